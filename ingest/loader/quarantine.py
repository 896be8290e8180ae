"""Rejected records: kept with file line, field and reason, in the run's transaction."""

from __future__ import annotations

import re
from collections import Counter

from ingest.models import RejectedRecord

# The part of a reason after these markers quotes the offending value; the report groups
# rejections by what was wrong, not by every distinct bad value.
_VALUE_TAIL = re.compile(r"(, got\b| \(got\b|: ).*$", re.DOTALL)


def reason_key(field: str, reason: str) -> str:
    """Group key for ``rejected_by_reason``: the reason without the value it quotes."""
    return _VALUE_TAIL.sub("", reason).strip() or field


class Quarantine:
    """Buffers rejected records of one batch and COPYs them into ``rejected_record``."""

    def __init__(self, cursor, run_id: int):
        self._cursor = cursor
        self._run_id = run_id
        self._pending: list[tuple[int, int, str, str, str]] = []
        self.count = 0
        self.by_reason: Counter = Counter()

    def add(self, line: int, field: str, reason: str, raw: str) -> None:
        self.count += 1
        self.by_reason[reason_key(field, reason)] += 1
        self._pending.append((self._run_id, line, field[:64], reason, raw[: RejectedRecord.RAW_LIMIT]))

    def extend(self, rejects: list[tuple[int, str, str, str]]) -> None:
        for line, field, reason, raw in rejects:
            self.add(line, field, reason, raw)

    def flush(self) -> None:
        if not self._pending:
            return
        # PostgreSQL text cannot hold NUL; a raw line may (that is often why it was rejected).
        rows = [(r, ln, f, reason.replace("\x00", "\\0"), raw.replace("\x00", "\\0")) for r, ln, f, reason, raw in self._pending]
        with self._cursor.copy('COPY rejected_record (run_id, line, field, reason, raw) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        self._pending.clear()
