"""API over ingest runs, their quarantine, and uploads of log files to ingest."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import audit
from copycat import roles
from copycat.api import IntIdLookupMixin, parse_int_id
from ingest import filtersets, selectors, services, tasks
from ingest.api import serializers
from ingest.formats import FileRejected, detect_encoding, detect_kind
from ingest.models import IngestRun, RejectedRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class IngestRunViewSet(IntIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    """Ingest runs (one per file) with their progress and report."""

    queryset = selectors.run_list()
    serializer_class = serializers.IngestRunSerializer
    filterset_class = filtersets.IngestRunFilterSet
    id_label = "ingest run id"

    def get_run(self) -> IngestRun:
        pk = parse_int_id(self.kwargs["pk"], self.id_label)
        run = selectors.get_run(pk)
        if run is None:
            raise exceptions.NotFound(f"No ingest run {pk}.")
        return run

    @extend_schema(responses=serializers.IngestRunDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        run = self.get_run()
        context = {"rejected_preview": selectors.rejected_preview(run)}
        return Response(serializers.IngestRunDetailSerializer(run, context=context).data)

    @extend_schema(responses=serializers.RejectedRecordSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=filtersets.RejectedRecordFilterSet,
            queryset=RejectedRecord.objects.all(),
            serializer_class=serializers.RejectedRecordSerializer)
    def rejected(self, request, pk=None):
        """Every record the run rejected, in file order, with the field and the reason."""
        run = self.get_run()
        self.cursor_ordering = ("line", "id")
        page = self.paginate_queryset(self.filter_queryset(selectors.rejected_records(run)))
        return self.get_paginated_response(serializers.RejectedRecordSerializer(page, many=True).data)


def safe_name(name: str) -> str:
    """The client's file name reduced to a safe base name; 400 for anything path-like."""
    if "\x00" in name:
        raise exceptions.ValidationError({"file": "The file name contains a NUL byte."})
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", "..") or ".." in base:
        raise exceptions.ValidationError({"file": f"{name!r} is not an acceptable file name: no paths or '..'."})
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:150]
    if not cleaned:
        raise exceptions.ValidationError({"file": f"{name!r} is not an acceptable file name."})
    return cleaned


def _too_big(size: int) -> exceptions.ValidationError:
    limit = settings.INGEST_UPLOAD_MAX_BYTES
    return exceptions.ValidationError(
        {"file": f"The upload is {size:,} bytes; the limit is {limit:,} bytes (INGEST_UPLOAD_MAX_BYTES). "
                 "Split the file, or put it in the drop folder."})


class UploadView(APIView):
    """Upload one log file to ingest (analyst). It is saved under INGEST_DIR/uploads, an
    ingest run is created and queued; poll /api/v1/ingest/runs/{id}/ for its progress."""

    parser_classes = (parsers.MultiPartParser,)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Refuse an oversized body before reading it: Content-Length is known up front.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.INGEST_UPLOAD_MAX_BYTES + 64 * 1024:
            raise _too_big(length)

    @extend_schema(request={"multipart/form-data": serializers.UploadSerializer},
                   responses={202: serializers.IngestRunSerializer,
                              400: OpenApiResponse(description="Bad file name, type, kind or size"),
                              403: OpenApiResponse(description="Needs the analyst role")})
    def post(self, request):
        roles.require(request.user, "ingest_upload")
        data = serializers.UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > settings.INGEST_UPLOAD_MAX_BYTES:
            raise _too_big(upload.size)
        name = safe_name(upload.name or "")
        try:
            detect_encoding(name)
        except FileRejected as exc:
            raise exceptions.ValidationError({"file": str(exc)}) from None
        kind = data.validated_data.get("kind") or detect_kind(name)
        if kind is None:
            raise exceptions.ValidationError(
                {"kind": f"Cannot tell the record kind from {name!r}: name the file accounts* or requests*, "
                         "or give kind=accounts|requests."})
        folder = Path(settings.INGEST_DIR) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        # The uuid prefix keeps names unique, and keeps the drop-folder scan (which only takes
        # names starting with accounts/requests) from ingesting the upload a second time.
        target = folder / f"{uuid.uuid4().hex}-{name}"
        _save(upload, target)
        with transaction.atomic():
            run = services.create_run(str(target), kind=kind, source=IngestRun.Source.UPLOAD, user=request.user)
            audit.record("ingest.upload", actor=request.user, object_type="ingest_run", object_id=run.pk,
                         reason=f"uploaded {upload.name!r} through the API",
                         data={"file": name, "kind": kind, "size": upload.size})
            tasks.enqueue([run.pk])
        return Response(serializers.IngestRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _save(upload, target: Path) -> None:
    temp = getattr(upload, "temporary_file_path", None)
    if temp is not None:
        shutil.move(temp(), target)
        os.chmod(target, 0o640)
        return
    with open(target, "wb") as out:
        out.writelines(upload.chunks())
