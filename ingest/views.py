"""Ingest page: runs with live progress (HTMX polling), rejected records, upload a file."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from campaigns.pages import filtered, page, viewer_role, write_action
from campaigns.tables import paginate
from copycat import roles
from ingest import filtersets, selectors, services, tasks
from ingest.forms import UploadForm
from ingest.models import IngestRun

ACTIVE = (IngestRun.Status.QUEUED, IngestRun.Status.RUNNING)


def safe_name(name: str) -> str:
    """A file name with only [A-Za-z0-9._-], no leading dots, kept short; its extension stays."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")[-150:]
    return base or "upload"


def _runs_context(request: HttpRequest) -> dict:
    filterset, queryset = filtered(filtersets.IngestRunFilterSet, request.GET, selectors.run_list())
    runs = paginate(queryset, request.GET, size=25, count=True)
    for run in runs:
        run.filename = os.path.basename(run.path)
    polling = IngestRun.objects.filter(status__in=ACTIVE).exists()
    return {"runs": runs, "polling": polling, "run_filters": filterset.form}


def index(request: HttpRequest) -> HttpResponse:
    viewer_role(request)
    context = {**_runs_context(request), "form": UploadForm()}
    return page(request, "ingest/index.html", context, nav="ingest")


def runs(request: HttpRequest) -> HttpResponse:
    viewer_role(request)
    return page(request, "ingest/_partials/runs.html", _runs_context(request))


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    run = selectors.get_run(pk)
    if run is None:
        raise Http404(f"No ingest run {pk}.")
    run.filename = os.path.basename(run.path)
    filterset, queryset = filtered(filtersets.RejectedRecordFilterSet, request.GET, selectors.rejected_records(run))
    rejected = paginate(queryset, request.GET, size=50)
    return page(request, "ingest/run.html", {"run": run, "rejected": rejected, "rejected_filters": filterset.form},
                nav="ingest")


@write_action
def upload(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "ingest_upload")
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        context = {**_runs_context(request), "form": form}
        return page(request, "ingest/index.html", context, nav="ingest", status=400)
    upload_file = form.cleaned_data["file"]
    folder = Path(settings.INGEST_DIR) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    # Keep the original name (the kind is read from it) after a unique prefix, so two uploads
    # of one name never overwrite each other.
    target = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}-{safe_name(upload_file.name)}"
    with open(target, "wb") as out:
        out.writelines(upload_file.chunks())
    kind = form.cleaned_data.get("kind") or None
    if kind is None:
        kind = "accounts" if safe_name(upload_file.name).lower().startswith("accounts") else "requests"
    run = services.create_run(str(target), kind=kind, source=IngestRun.Source.UPLOAD, user=request.user)
    tasks.enqueue([run.pk])
    messages.success(request, f"{upload_file.name} uploaded; ingest run {run.pk} queued.")
    return redirect("ingest:index")
