"""Load one file: read, validate, stage, merge, all in one transaction."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from ingest.formats import ParseError, ReadStats, iter_batches
from ingest.loader.accounts import AccountLoader
from ingest.loader.connection import side_connection
from ingest.loader.lookups import LookupCache
from ingest.loader.progress import Heartbeat, Progress
from ingest.loader.quarantine import Quarantine, reason_key
from ingest.loader.requests import RequestLoader
from ingest.validation import KNOWN_FIELDS, unknown_fields, validate_record

# Ingest merges serialise on this advisory lock: staging (the parsing) runs in parallel,
# the set-based merge into shared tables (sessions above all) runs one file at a time.
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
    with side_connection() as side, Heartbeat(side, run_id, progress):
        lookups = LookupCache(side)
        with transaction.atomic():
            report = _load_in_transaction(run_id, path, kind, progress, lookups, side)
    report.seconds = time.perf_counter() - started
    return report


def _load_in_transaction(run_id, path, kind, progress, lookups, side) -> LoadReport:
    report = LoadReport()
    stats = ReadStats()
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg cursor, for COPY
        cursor.execute("SET LOCAL work_mem = '256MB'")
        quarantine = Quarantine(cursor, run_id)
        target = _target(kind, cursor, run_id, lookups, side)
        validate = validate_record
        known = KNOWN_FIELDS[kind]
        for batch in iter_batches(path, kind, settings.INGEST_BATCH_SIZE, stats):
            good = []
            for line, raw, obj, source in batch:
                if type(obj) is ParseError:
                    quarantine.add(line, obj.field, obj.reason, raw)
                    continue
                row, bad_field, reason = validate(kind, obj, source)
                if row is None:
                    quarantine.add(line, bad_field, reason, raw)
                    continue
                good.append((line, row))
                if not obj.keys() <= known:
                    report.unknown_fields.update(unknown_fields(kind, obj))
            target.add(good)
            quarantine.flush()
            progress.set(bytes_read=stats.bytes_read, records=stats.items)
        progress.set(phase="merging", bytes_read=stats.total_bytes)
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MERGE_LOCK_KEY,))
        counts = target.finish()
        quarantine.flush()
    report.records = stats.items
    report.blank_lines = stats.blank_lines
    report.rejected = quarantine.count
    report.rejected_by_reason = quarantine.by_reason
    report.loaded = counts["loaded"]
    report.updated = counts.get("updated", 0)
    report.duplicates = counts["duplicates"]
    report.conflicting_duplicates = counts.get("conflicting_duplicates", 0)
    return report


def _target(kind: str, cursor, run_id: int, lookups: LookupCache, side) -> AccountLoader | RequestLoader:
    if kind == "accounts":
        return AccountLoader(cursor, lookups)
    return RequestLoader(cursor, run_id, lookups, side)
