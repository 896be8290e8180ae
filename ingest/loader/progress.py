"""Progress and heartbeat of a running ingest, written outside its transaction."""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass, field

import psycopg


@dataclass
class Progress:
    """What the loader has done so far; a background thread writes it to the run's row."""

    bytes_read: int = 0
    records: int = 0
    phase: str = "reading"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, **values: object) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)

    def snapshot(self) -> tuple[int, int, str]:
        with self._lock:
            return self.bytes_read, self.records, self.phase


class Heartbeat:
    """Writes progress every ``interval`` seconds until stopped.

    It runs in its own thread with its own connection, so it keeps beating while the loader
    waits on a long SQL statement; when the worker dies, the beat stops and the run can be
    recognised as dead by its stale ``heartbeat_at``.
    """

    def __init__(self, conn: psycopg.Connection, run_id: int, progress: Progress, interval: float = 1.0):
        self._conn = conn
        self._run_id = run_id
        self._progress = progress
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # The last figures; the load's outcome does not depend on them (it may have committed
        # already), so a server gone by now must not turn a finished load into a failed one.
        with suppress(psycopg.Error):
            self.beat()

    def beat(self) -> None:
        bytes_read, records, phase = self._progress.snapshot()
        self._conn.execute(
            "UPDATE ingest_run SET bytes_read = %s, records = %s, phase = %s, heartbeat_at = now() WHERE id = %s",
            (bytes_read, records, phase, self._run_id),
        )

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except psycopg.Error:
                # The database may be restarting; the main transaction will fail and say so.
                return
