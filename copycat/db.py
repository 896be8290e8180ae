"""Side connections and heartbeats for long jobs, table upkeep after bulk writes, and a
single-row read that skips ``first()``'s ORDER BY.

A job's transaction may run for minutes; its progress and heartbeat go through a second,
autocommit connection so pages see them, and a thread keeps beating while the job waits on a
long statement. When the worker dies, the beat stops and a reaper can tell. A stale beat
alone does not prove the worker dead (the beat's own connection can fail while the job goes
on), so the worker also holds a ``JobLock`` on its job, which PostgreSQL drops with the
worker's connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.db import DatabaseError, connection
from django.db.models import QuerySet

logger = logging.getLogger(__name__)


def side_connection(application_name: str = "copycat-ingest-side") -> psycopg.Connection:
    """Open an autocommit connection beside the default one (same database, same user)."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or None,
        port=settings.get("PORT") or None,
        autocommit=True,
        application_name=application_name,
        options=settings.get("OPTIONS", {}).get("options", ""),
    )


class JobLock:
    """Session-level advisory locks (namespace, job id) on Django's connection: held by the
    worker that claimed a job until the job ends, and gone the moment that worker's
    connection is. Reapers leave alone the jobs whose lock is held."""

    def __init__(self, namespace: int) -> None:
        self.namespace = namespace

    def acquire(self, job_id: int) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [self.namespace, job_id])
            return cursor.fetchone()[0]

    @contextmanager
    def claimed(self, job_id: int, take: Callable[[], bool]) -> Iterator[bool]:
        """Take the job's lock, then the job itself with ``take`` (a conditional UPDATE of its
        row); yields whether both were ours, and gives the lock back on leaving."""
        if not self.acquire(job_id):
            yield False  # a live worker holds it, whatever its heartbeat says
            return
        try:
            yield take()
        finally:
            self.release(job_id)

    def release(self, job_id: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [self.namespace, job_id])
        except DatabaseError:
            logger.info("job %d: the connection that held its lock is gone, and the lock with it", job_id)

    def held(self) -> list[int]:
        """Jobs whose lock some live connection to this database holds."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
                           "AND classid = %s::bigint::oid AND objsubid = 2 "
                           "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                           [self.namespace])
            return [row[0] for row in cursor.fetchall()]


@contextmanager
def heartbeat(table: str, row_id: int, interval: float = 10.0) -> Iterator[None]:
    """Set ``heartbeat_at = now()`` on ``table`` row ``row_id`` every ``interval`` seconds."""
    stop = threading.Event()

    def beat() -> None:
        try:
            with side_connection(f"copycat-heartbeat-{table}") as conn:
                while not stop.wait(interval):
                    conn.execute(f"UPDATE {table} SET heartbeat_at = now() WHERE id = %s", (row_id,))
        except psycopg.Error:
            return  # the database is gone; the job itself will fail and say so

    thread = threading.Thread(target=beat, name=f"heartbeat-{table}-{row_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


def refresh_statistics(tables: tuple[str, ...], *, changed_share: float = 0.2,
                       min_dead_rows: int = 10000) -> list[str]:
    """ANALYZE the ``tables`` (LIKE patterns, so partitions match) that changed by more than
    ``changed_share`` since their last ANALYZE; return their names.

    Right after a bulk write the planner's statistics describe the table before it (or nothing,
    for a new partition), and plans for timelines, member lists and neighbour lookups go wrong
    until autovacuum catches up, minutes later, or never where it is off. Sampling a table costs
    far less than one bad plan on it. Outside a transaction, tables rewritten in place are also
    vacuumed once mostly dead (see _vacuum_bloated).
    """
    with connection.cursor() as cursor:
        # A backend publishes its own write counters at most once a second; in autocommit this
        # statement's end publishes them, so the check below sees what this process just wrote.
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname LIKE ANY(%s) "
            "AND n_mod_since_analyze > %s * greatest(n_live_tup, 1000) ORDER BY relname",
            [list(tables), changed_share])
        stale = [name for (name,) in cursor.fetchall()]
        for name in stale:
            cursor.execute(f'ANALYZE "{name}"')
        if not connection.in_atomic_block:
            _vacuum_bloated(cursor, tables, min_dead_rows)
    return stale


def summarize_block_ranges(table_pattern: str) -> int:
    """Summarize the BRIN block ranges that writes filled since the last summary, on the tables
    named like ``table_pattern``; return how many ranges were summarized.

    A BRIN index summarizes a range only when VACUUM (or autosummarize, which needs autovacuum)
    gets to it, and a range without a summary matches every query. Bulk loads fill ranges faster
    than that: after a 1/4-of-seed ingest on this machine (autovacuum off) no range of the
    request partitions was summarized, so a 3-hour window read 40% of a month's heap (a campaign's
    raw requests: 500 ms, 50 ms once summarized). Summarizing costs a read of the new blocks.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(brin_summarize_new_values(c.oid)), 0) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE a.amname = 'brin' AND t.relname LIKE %s",
            [table_pattern])
        return int(cursor.fetchone()[0])


def _vacuum_bloated(cursor, tables: tuple[str, ...], min_dead_rows: int) -> None:
    """VACUUM the tables whose dead rows outnumber the live ones. Ingest rewrites the account,
    API key and session rows each batch touches: after a demo-sized load the account table held
    eight dead rows per live one and the account list read 11 MB to show 50 rows. Autovacuum
    does this where it is on (it was off on this machine) and only later; VACUUM cannot run
    inside a transaction."""
    cursor.execute(
        "SELECT relname FROM pg_stat_user_tables WHERE relname LIKE ANY(%s) "
        "AND n_dead_tup > greatest(n_live_tup, %s) ORDER BY relname", [list(tables), min_dead_rows])
    for (name,) in cursor.fetchall():
        cursor.execute(f'VACUUM "{name}"')


def one_or_none[T](queryset: QuerySet[T]) -> T | None:
    """The row a filter on a unique key matches, or None. Unlike ``first()`` it sends no ORDER
    BY: compiling the model's default ordering for one row was a fifth of a detail call's time."""
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None
