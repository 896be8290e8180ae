"""Load one file: read, validate, stage, merge, all in one transaction."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import connection, transaction

from copycat.db import side_connection
from ingest.formats import ReadStats, iter_batches
from ingest.loader.accounts import AccountLoader
from ingest.loader.lookups import LookupCache
from ingest.loader.pipeline import ChunkEnd, RequestReader, check_batch
from ingest.loader.progress import Heartbeat, Progress
from ingest.loader.quarantine import Quarantine
from ingest.loader.requests import STAGE_COLUMNS, STAGE_DDL, RequestEncoder, RequestLoader
from ingest.loader.staging import ChunkStager, drop_orphan_tables, drop_own_tables

logger = logging.getLogger(__name__)

# Merges into the shared tables (sessions above all) take this advisory lock, held to the
# end of the file's transaction: reading and staging run in parallel across workers, merges
# one file at a time.
MERGE_LOCK_KEY = 0x436F7079  # "Copy"


@dataclass
class LoadReport:
    """What a file gave; the numbers that end up on its IngestRun."""

    records: int = 0
    loaded: int = 0
    updated: int = 0
    duplicates: int = 0
    conflicting_duplicates: int = 0
    rejected: int = 0
    blank_lines: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    unknown_fields: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def load_file(run_id: int, path: str, kind: str, progress: Progress | None = None) -> LoadReport:
    """Load ``path`` as ``kind`` records for ingest run ``run_id``.

    Raises ``ingest.formats.FileRejected`` when the file cannot be read; the transaction is
    then rolled back and nothing from the file stays in the database.
    """
    started = time.perf_counter()
    progress = progress or Progress()
    report = LoadReport()
    stats = ReadStats()
    with _staging_connection(kind, run_id) as stage_conn:
        _load(run_id, path, kind, progress, report, stats, stage_conn)
    report.records = stats.items
    report.blank_lines = stats.blank_lines
    report.seconds = time.perf_counter() - started
    return report


def _load(run_id: int, path: str, kind: str, progress: Progress, report: LoadReport, stats: ReadStats,
          stage_conn: psycopg.Connection | None) -> None:
    with side_connection() as side, Heartbeat(side, run_id, progress), transaction.atomic():
        with connection.cursor() as django_cursor:
            cursor = django_cursor.cursor  # the psycopg cursor, for COPY
            cursor.execute("SET LOCAL work_mem = '256MB'")
            quarantine = Quarantine(cursor, run_id)
            load = _load_accounts if kind == "accounts" else _load_requests
            counts = load(cursor, run_id, path, stats, quarantine, report, progress, side, stage_conn)
            quarantine.flush()
            # A backend publishes its table counters at most once a second; without this, the
            # statistics refresh right after the commit could miss what this load wrote.
            cursor.execute("SELECT pg_stat_force_next_flush()")
    report.rejected = quarantine.count
    report.rejected_by_reason = quarantine.by_reason
    for name, value in counts.items():
        setattr(report, name, value)


@contextmanager
def _staging_connection(kind: str, run_id: int) -> Iterator[psycopg.Connection | None]:
    """The reader's staging connection for a request file.

    It stays open until the load's transaction has ended, committed or not, and then drops the
    tables staged on it: while it is open its tables are known to be in use (see
    ``ingest.loader.staging``). Tables of killed loads are swept on the way in.
    """
    if kind == "accounts":
        yield None
        return
    conn = side_connection("copycat-ingest-stage")
    try:
        drop_orphan_tables(conn)
        yield conn
    finally:
        try:
            drop_own_tables(conn, run_id)
        except psycopg.Error as exc:  # the server is gone: the next load or the reaper drops them
            logger.warning("ingest run %d: staging tables left for a later sweep: %s", run_id, exc)
        finally:
            conn.close()


def _merge_lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MERGE_LOCK_KEY,))


def _try_merge_lock(cursor) -> bool:
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", (MERGE_LOCK_KEY,))
    return cursor.fetchone()[0]


def _load_accounts(cursor, run_id, path, stats, quarantine, report, progress, side, _stage_conn) -> dict[str, int]:
    """Account files are small: read and apply batch by batch on this thread."""
    _merge_lock(cursor)
    target = AccountLoader(cursor, LookupCache(side))
    for batch in iter_batches(path, "accounts", settings.INGEST_BATCH_SIZE, stats):
        checked = check_batch("accounts", batch)
        target.add(checked.good)
        quarantine.extend(checked.rejects)
        quarantine.flush()
        report.unknown_fields.update(checked.unknown)
        progress.set(bytes_read=stats.bytes_read, records=stats.items)
    return target.finish()


def _load_requests(cursor, run_id, path, stats, quarantine, report, progress, side, stage_conn) -> dict[str, int]:
    """A reader thread parses and stages ahead while this thread merges chunk by chunk.

    While another file holds the merge lock, this thread keeps taking the reader's items and
    sets the sealed chunks aside instead of blocking on the lock: the reader then stages the
    whole file meanwhile (into unlogged tables, not memory), and the merges run back to back
    once the lock is free. Blocking on the lock stopped the reader after its 32 batches ahead,
    and with two workers the machine sat 45% idle during a seed-scale ingest.
    """
    loader = RequestLoader(cursor, run_id, side)
    locked = False
    waiting: list[ChunkEnd] = []

    def merge_what_is_ready() -> None:
        nonlocal locked
        if not locked and not _try_merge_lock(cursor):
            progress.set(phase="reading (waiting to merge)")
            return
        locked = True
        progress.set(phase="merging")
        for item in waiting:
            loader.merge(item.chunk, item.months)
        waiting.clear()
        progress.set(phase="reading")

    with side_connection() as lookup_conn:
        stager = ChunkStager(stage_conn, run_id, STAGE_DDL, STAGE_COLUMNS)
        reader = RequestReader(path, RequestEncoder(LookupCache(lookup_conn)), stager, stats,
                               settings.INGEST_BATCH_SIZE, settings.INGEST_CHUNK_ROWS)
        reader.start()
        try:
            for item in reader.items():
                if isinstance(item, ChunkEnd):
                    waiting.append(item)
                    merge_what_is_ready()
                    continue
                quarantine.extend(item.rejects)
                quarantine.flush()
                report.unknown_fields.update(item.unknown)
                progress.set(bytes_read=item.bytes_read, records=item.items)
                if waiting:
                    merge_what_is_ready()
        finally:
            reader.stop()
    if not locked:
        progress.set(phase="waiting to merge")
        _merge_lock(cursor)
        locked = True
    merge_what_is_ready()
    progress.set(phase="rollups and sessions")
    loader.finish()
    return dict(loader.counts)
