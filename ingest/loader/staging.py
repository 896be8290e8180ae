"""Staging tables of request chunks, written by the reader on its own connection.

The loading connection spends a chunk's time merging; a COPY into staging on that same
connection had to wait for the merge and then made the merge wait (7.5 of the 50 s of server
time for 2M rows). The reader COPYs each batch into its chunk's table on its side connection
instead, so the server writes the next chunk while the loader merges this one.

A chunk's tables are committed (the side connection is in autocommit) before the loader
merges them, and the merge drops them inside the file's transaction. They are UNLOGGED: a
crash loses them along with the transaction that needed them. Tables left by a failed or
killed load are dropped when the run starts again or ends (``drop_run_tables``) and by the
reaper (``drop_orphan_tables``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg.copy import QueuedLibpqWriter

SCHEMA = "ingest_stage"
_NAME = re.compile(r"^r(\d+)_\d+_(rows|repeats)$")


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
        self._conn, self._run_id, self._ddl = conn, int(run_id), ddl
        self._columns = ", ".join(columns)
        self._chunk = 0
        self._rows = self._repeats = 0
        self._repeat_data: list[bytes] = []
        self._open = None  # the chunk's COPY context while it is open
        self._copy = None

    def _table(self, what: str) -> str:
        return f"{SCHEMA}.r{self._run_id}_{self._chunk}_{what}"

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
            try:
                opened.__exit__(type(reason), reason, None)
            except psycopg.Error:
                pass  # the connection is gone already; nothing was committed


def _tables(conn: psycopg.Connection) -> list[tuple[str, int]]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,)).fetchall()
    return [(name, int(m.group(1))) for (name,) in rows if (m := _NAME.match(name))]


def _drop(conn: psycopg.Connection, names: list[str]) -> None:
    if names:
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(f"{SCHEMA}.{name}" for name in names))


def drop_run_tables(conn: psycopg.Connection, run_id: int) -> None:
    """Drop what a load of ``run_id`` staged and did not merge (a failed or killed attempt)."""
    _drop(conn, [name for name, run in _tables(conn) if run == run_id])


def drop_orphan_tables(conn: psycopg.Connection) -> int:
    """Drop staging tables of runs that are not running; return how many went.

    Tables are listed before the runs are read: a table only exists while its run is running,
    so a run that starts in between has no table in the list.
    """
    tables = _tables(conn)
    ids = sorted({run for _, run in tables})
    running = {run for (run,) in conn.execute(
        "SELECT id FROM ingest_run WHERE status = 'running' AND id = ANY(%s)", (ids,)).fetchall()}
    names = [name for name, run in tables if run not in running]
    _drop(conn, names)
    return len(names)
