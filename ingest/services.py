"""Ingest services: create runs, execute them, watch the drop folder, reap dead runs.

The command, the Celery tasks and (later) the API and pages all go through these functions.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.models import F, Q
from django.utils import timezone

from copycat import db
from ingest.formats import FileRejected, detect_kind
from ingest.loader import LoadReport, load_file, staging
from ingest.loader.progress import Progress
from ingest.models import IngestRun

logger = logging.getLogger(__name__)

KINDS = ("accounts", "requests")
# Names a writer uses while a file is still being written into the drop folder.
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".inprogress")
# Held by the worker that claimed a run until the run ends (see copycat.db.JobLock).
RUN_LOCK = db.JobLock(0x52756E31)


def create_run(path: str, *, kind: str | None, source: str, user=None, drop_key: str | None = None) -> IngestRun:
    """Record a file to ingest. ``kind`` may be None: it is then read from the file name."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    return IngestRun.objects.create(
        path=path, kind=kind or detect_kind(path) or "", source=source, created_by=user,
        size_bytes=size, drop_key=drop_key,
    )


def _free_runs() -> Q:
    stale = timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    return Q(status__in=[IngestRun.Status.QUEUED, IngestRun.Status.INTERRUPTED]) | Q(
        status=IngestRun.Status.RUNNING, heartbeat_at__lt=stale
    )


def claimed_run(run_id: int) -> AbstractContextManager[bool]:
    """Take a run for this process while inside; yields False if another worker holds it or
    it has ended.

    A run is free when queued or interrupted, or running with a heartbeat older than
    INGEST_STALE_SECONDS and no worker holding its lock (its worker died). The conditional
    UPDATE makes the claim atomic, so a redelivered task never loads a file twice at once.
    """
    def take() -> bool:
        now = timezone.now()
        return IngestRun.objects.filter(_free_runs(), pk=run_id).update(
            status=IngestRun.Status.RUNNING, started_at=now, heartbeat_at=now, phase="reading",
            bytes_read=0, records=0, reason="", attempts=F("attempts") + 1,
        ) == 1

    return RUN_LOCK.claimed(run_id, take)


def execute_run(run_id: int) -> IngestRun | None:
    """Claim and load one run; return it when finished, None if it was not ours to run.

    A file that cannot be read ends the run as ``failed`` with the reason; a database that
    went away ends it as ``interrupted`` (and the error propagates so a task can retry).
    """
    with claimed_run(run_id) as ours:
        if not ours:
            logger.info("execute_run: run %d is taken or finished; skipping", run_id)
            return None
        return _execute_claimed(run_id)


def _execute_claimed(run_id: int) -> IngestRun | None:
    run = IngestRun.objects.get(pk=run_id)
    if run.kind not in KINDS:
        return _fail(run, f"cannot tell the record kind from the file name {Path(run.path).name!r}: "
                          "name it accounts* or requests*, or state the kind (--kind accounts|requests)")
    if not os.path.isfile(run.path):
        return _fail(run, f"no such file: {run.path}")
    try:
        report = load_file(run.pk, run.path, run.kind, Progress())
    except FileRejected as exc:
        return _fail(run, str(exc))
    except (DatabaseError, psycopg.Error) as exc:
        # The loader talks to psycopg directly too, so a server error can surface either way.
        if not _retryable(exc):
            logger.exception("ingest run %d stopped on a database error", run_id)
            return _fail(run, f"internal error, nothing from the file was loaded ({_server_said(exc)}); "
                              "the log has the details under this run's id")
        _end(run_id, IngestRun.Status.INTERRUPTED, reason=_interruption_reason(exc))
        raise
    except Exception as exc:
        # A fault of ours, not of the file or the server: end the run with what happened rather
        # than leave it running for the reaper to queue again, and fail again, without end.
        logger.exception("ingest run %d stopped on an unexpected error", run_id)
        return _fail(run, f"internal error, nothing from the file was loaded ({type(exc).__name__}: {exc}); "
                          "the log has the details under this run's id")
    _finish(run, report)
    if report.loaded or report.updated:
        refresh_statistics()
    return IngestRun.objects.get(pk=run_id)


def _psycopg_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error behind ``exc`` (Django wraps the ones from its own cursors)."""
    if isinstance(exc, psycopg.Error):
        return exc
    return exc.__cause__ if isinstance(exc.__cause__, psycopg.Error) else None


def _retryable(exc: BaseException) -> bool:
    """A lost connection or a server out of resources (SQLSTATE class 08 or 53): the file is
    fine and a later attempt can load it. Any other database error is a fault of ours."""
    error = _psycopg_error(exc)
    if error is not None:
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return isinstance(exc, OperationalError | InterfaceError)


def _server_said(exc: BaseException) -> str:
    error = _psycopg_error(exc)
    sqlstate = getattr(error, "sqlstate", None)
    message = str(error or exc).strip().splitlines()[0] if str(error or exc).strip() else type(exc).__name__
    return f"SQLSTATE {sqlstate}: {message}" if sqlstate else message


def _interruption_reason(exc: BaseException) -> str:
    sqlstate = getattr(_psycopg_error(exc), "sqlstate", None) or ""
    if sqlstate.startswith("53"):
        what = "the database server ran out of resources (disk, memory or connections)"
    else:
        what = "the database connection failed"
    return f"{what}: {_server_said(exc)}; nothing from the file was kept, and the run will be retried"


# Tables a load grows, as name patterns for pg_stat_user_tables (request partitions included).
_GROWN_TABLES = ("request_y%", "request_key", "request_excerpt", "account_hour", "session", "account", "api_key",
                 "traffic_hour", "account_traffic_value")


def refresh_statistics(changed_share: float = 0.2, min_dead_rows: int = 10000) -> list[str]:
    """Fresh planner statistics (and space) for what a load grew or rewrote, and block-range
    summaries for the request partitions' time index; see copycat.db."""
    db.summarize_block_ranges("request_y%")
    return db.refresh_statistics(_GROWN_TABLES, changed_share=changed_share, min_dead_rows=min_dead_rows)


def _end(run_id: int, status: str, **fields) -> None:
    """Write a run's end on a fresh connection state (the load transaction is gone)."""
    now = timezone.now()
    IngestRun.objects.filter(pk=run_id).update(status=status, finished_at=now, heartbeat_at=now, **fields)


def _fail(run: IngestRun, reason: str) -> IngestRun:
    logger.warning("ingest run %d failed: %s", run.pk, reason)
    _end(run.pk, IngestRun.Status.FAILED, reason=reason, phase="failed",
         seconds=(timezone.now() - run.started_at).total_seconds() if run.started_at else None)
    return IngestRun.objects.get(pk=run.pk)


def _finish(run: IngestRun, report: LoadReport) -> None:
    _end(
        run.pk, IngestRun.Status.DONE, phase="done", records=report.records, loaded=report.loaded,
        updated=report.updated, duplicates=report.duplicates,
        conflicting_duplicates=report.conflicting_duplicates, rejected=report.rejected,
        blank_lines=report.blank_lines, rejected_by_reason=dict(report.rejected_by_reason),
        unknown_fields=dict(report.unknown_fields), seconds=report.seconds,
        bytes_read=run.size_bytes or 0,
    )


def ingest_path(path: str, *, kind: str | None = None, source: str = IngestRun.Source.COMMAND, user=None) -> IngestRun:
    """Create a run for ``path`` and load it in this process (the foreground way in)."""
    run = create_run(path, kind=kind, source=source, user=user)
    return execute_run(run.pk) or IngestRun.objects.get(pk=run.pk)


def _settled_files(folder: Path, settle_seconds: int) -> list[tuple[Path, os.stat_result]]:
    """Files in ``folder`` that look complete: not hidden, not temporary, unchanged lately."""
    cutoff = timezone.now().timestamp() - settle_seconds
    found = []
    for path in sorted(folder.rglob("*")):
        name = path.name
        if name.startswith(".") or name.lower().endswith(_IN_PROGRESS_SUFFIXES) or not path.is_file():
            continue
        if detect_kind(name) is None:
            continue
        stat = path.stat()
        if stat.st_mtime <= cutoff:
            found.append((path, stat))
    return found


def claim_drop_files(folder: Path | None = None) -> list[int]:
    """Create one run per new, settled file in the drop folder; return the new run ids.

    A file is known by (path, size, mtime): two beats or two workers scanning at once race
    on that unique key and only one creates the run; a file replaced later is a new file.
    """
    folder = Path(folder or settings.INGEST_DIR)
    if not folder.is_dir():
        return []
    created = []
    for path, stat in _settled_files(folder, settings.INGEST_SETTLE_SECONDS):
        key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
        if IngestRun.objects.filter(drop_key=key).exists():
            continue
        run, was_created = IngestRun.objects.get_or_create(
            drop_key=key,
            defaults={"path": str(path), "kind": detect_kind(path.name) or "",
                      "source": IngestRun.Source.DROP_FOLDER, "size_bytes": stat.st_size},
        )
        if was_created:
            created.append(run.pk)
    return created


def stale_runs() -> list[int]:
    """Mark runs whose worker died (heartbeat stale, lock free) as interrupted; return their ids."""
    stale = timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    dead = IngestRun.objects.filter(status=IngestRun.Status.RUNNING, heartbeat_at__lt=stale).exclude(
        pk__in=RUN_LOCK.held())
    ids = list(dead.values_list("pk", flat=True))
    if ids:
        IngestRun.objects.filter(pk__in=ids, status=IngestRun.Status.RUNNING, heartbeat_at__lt=stale).update(
            status=IngestRun.Status.INTERRUPTED, phase="interrupted",
            reason="the worker stopped without finishing (killed or lost); queued again",
        )
    return ids


def drop_orphan_staging() -> int:
    """Drop staging tables whose load is gone (a killed worker); return how many went."""
    try:
        with db.side_connection() as conn:
            return staging.drop_orphan_tables(conn)
    except psycopg.Error as exc:  # the next sweep or load will
        logger.warning("staging tables not swept: %s", exc)
        return 0


def lost_queued_runs() -> list[int]:
    """Queued runs whose task message may be gone (a broker restarted without persistence).

    A run queued longer than INGEST_REQUEUE_SECONDS is sent again, at most once per that
    period (``heartbeat_at`` records the last send). A run that was only waiting behind a
    backlog gets a second message, which finds the run claimed or done and exits.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.INGEST_REQUEUE_SECONDS)
    waiting = IngestRun.objects.filter(status=IngestRun.Status.QUEUED, created_at__lt=cutoff).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff))
    ids = list(waiting.values_list("pk", flat=True))
    IngestRun.objects.filter(pk__in=ids).update(heartbeat_at=timezone.now())
    return ids
