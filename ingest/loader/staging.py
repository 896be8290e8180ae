"""Staging tables of request chunks, written by the reader on its own connection.

The loading connection spends a chunk's time merging; a COPY into staging on that same
connection had to wait for the merge and then made the merge wait (7.5 of the 50 s of server
time for 2M rows). The reader COPYs each batch into its chunk's table on its side connection
instead, so the server writes the next chunk while the loader merges this one.

A chunk's tables are committed (the side connection is in autocommit) before the loader
merges them. They are UNLOGGED: a crash loses them along with the transaction that needed
them. Their names carry the run and the staging connection's backend pid, so each attempt at a
run has its own. The load drops its own tables once its transaction has ended, whatever the
outcome (``drop_own_tables``); tables whose connection is gone (a killed worker) are dropped
by the next load and by the reaper (``drop_orphan_tables``). Dropping them after the commit,
not in the file's transaction, keeps that transaction's lock count flat.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass

import psycopg
from psycopg.copy import QueuedLibpqWriter

SCHEMA = "ingest_stage"
_NAME = re.compile(r"^r(\d+)_p(\d+)_\d+_(rows|repeats)$")
# Cleanup never waits long on a lock: a table still locked is left for the next sweep.
_CLEANUP_LOCK_TIMEOUT = "2s"


@dataclass(frozen=True)
class StagedChunk:
    """A sealed chunk: its table of first sightings, of in-chunk repeats (or None), and counts."""

    rows_table: str
    repeats_table: str | None
    rows: int
    repeats: int


class ChunkStager:
    """COPYs encoded batches into the current chunk's table; ``seal`` hands the chunk over.

    A chunk is one COPY kept open across its batches, fed through psycopg's queued writer:
    ``write`` returns at once and a psycopg thread ships the bytes while the reader parses
    on (a plain COPY made the reader wait for the server's parsing of every batch, about a
    seventh of its time). The connection is the stager's alone: a COPY in progress holds it.
    In-chunk repeats are rare and small; they are kept in memory and COPYed at the seal.
    """

    def __init__(self, conn: psycopg.Connection, run_id: int, ddl: str, columns: list[str]):
        self._conn, self._ddl = conn, ddl
        self._prefix = own_prefix(conn, run_id)
        self._columns = ", ".join(columns)
        self._chunk = 0
        self._rows = self._repeats = 0
        self._repeat_data: list[bytes] = []
        self._open = None  # the chunk's COPY context while it is open
        self._copy = None

    def _table(self, what: str) -> str:
        return f"{SCHEMA}.{self._prefix}{self._chunk}_{what}"

    def _create(self, what: str) -> str:
        table = self._table(what)
        # Autovacuum would only analyse rows the merge analyses itself a moment later.
        self._conn.execute(f"CREATE UNLOGGED TABLE {table} ({self._ddl}) WITH (autovacuum_enabled = false)")
        return f"COPY {table} ({self._columns}) FROM STDIN"

    def write(self, data: bytes, rows: int, repeat_data: bytes = b"", repeats: int = 0) -> None:
        if rows:
            if self._open is None:
                cursor = self._conn.cursor()
                self._open = cursor.copy(self._create("rows"), writer=QueuedLibpqWriter(cursor))
                self._copy = self._open.__enter__()
            self._copy.write(data)
            self._rows += rows
        if repeats:
            self._repeat_data.append(repeat_data)
            self._repeats += repeats

    def seal(self) -> StagedChunk | None:
        """End the current chunk (its rows committed); None when it staged nothing."""
        if not self._rows:
            return None
        opened, self._open, self._copy = self._open, None, None
        opened.__exit__(None, None, None)
        if self._repeat_data:
            with self._conn.cursor().copy(self._create("repeats")) as copy:
                for data in self._repeat_data:
                    copy.write(data)
        chunk = StagedChunk(self._table("rows"), self._table("repeats") if self._repeats else None,
                            self._rows, self._repeats)
        self._chunk += 1
        self._rows = self._repeats = 0
        self._repeat_data = []
        return chunk

    def abandon(self) -> None:
        """End an open COPY without its rows (the load failed or stopped)."""
        opened, self._open, self._copy = self._open, None, None
        if opened is not None:
            reason = RuntimeError("the load stopped")
            with suppress(psycopg.Error):  # the connection is gone already; nothing was committed
                opened.__exit__(type(reason), reason, None)


def own_prefix(conn: psycopg.Connection, run_id: int) -> str:
    """The name prefix of the tables staged on ``conn`` for ``run_id``."""
    return f"r{int(run_id)}_p{conn.info.backend_pid}_"


def _tables(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """(name, backend pid) of the loader's tables in the staging schema."""
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,)).fetchall()
    return [(name, int(m.group(2))) for (name,) in rows if (m := _NAME.match(name))]


def _drop(conn: psycopg.Connection, names: list[str]) -> int:
    """Drop ``names`` one by one, skipping any that stay locked; return how many went."""
    dropped = 0
    conn.execute(f"SET lock_timeout = '{_CLEANUP_LOCK_TIMEOUT}'")
    try:
        for name in names:
            try:
                conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{name}")
            except psycopg.errors.LockNotAvailable:
                continue
            dropped += 1
    finally:
        conn.execute("RESET lock_timeout")
    return dropped


def drop_own_tables(conn: psycopg.Connection, run_id: int) -> int:
    """Drop the tables staged on ``conn`` for ``run_id`` (its load's transaction has ended)."""
    prefix = own_prefix(conn, run_id)
    return _drop(conn, [name for name, _ in _tables(conn) if name.startswith(prefix)])


def drop_orphan_tables(conn: psycopg.Connection) -> int:
    """Drop staging tables whose connection is gone (a killed or lost load); return how many.

    A live load keeps its staging connection open until its tables are dropped, so a table
    whose backend pid is no longer running belongs to no one.
    """
    tables = _tables(conn)
    if not tables:
        return 0
    alive = {pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity").fetchall()}
    return _drop(conn, [name for name, pid in tables if pid not in alive])
