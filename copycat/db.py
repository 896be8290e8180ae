"""Side connections and heartbeats for long jobs.

A job's transaction may run for minutes; its progress and heartbeat go through a second,
autocommit connection so pages see them, and a thread keeps beating while the job waits on a
long statement. When the worker dies, the beat stops and a reaper can tell.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


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
