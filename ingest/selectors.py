"""Reads on ingest runs and their quarantine."""

from __future__ import annotations

from django.db.models import QuerySet

from copycat.db import one_or_none
from ingest.models import IngestRun, RejectedRecord

REJECTED_PREVIEW = 20


def run_list() -> QuerySet[IngestRun]:
    return IngestRun.objects.select_related("created_by").order_by("-id")


def get_run(pk: int) -> IngestRun | None:
    return one_or_none(IngestRun.objects.select_related("created_by").filter(pk=pk))


def rejected_records(run: IngestRun) -> QuerySet[RejectedRecord]:
    # (run, line) is the model's ordering and the natural reading order of a file.
    return RejectedRecord.objects.filter(run=run).order_by("line", "id")


def rejected_preview(run: IngestRun, limit: int = REJECTED_PREVIEW) -> list[RejectedRecord]:
    """The first rejected records of a run, for its detail view."""
    return list(rejected_records(run)[:limit])


def run_progress(run: IngestRun) -> dict:
    """What a progress bar needs, read from the run row (never from the broker)."""
    return {"status": run.status, "phase": run.phase, "progress": run.progress, "bytes_read": run.bytes_read,
            "size_bytes": run.size_bytes, "records": run.records, "rejected": run.rejected,
            "heartbeat_at": run.heartbeat_at}
