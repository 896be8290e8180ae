"""Paging for page tables: every table pages, none loads unbounded rows.

``paginate`` pages small, bounded tables (members, runs) by offset without a COUNT unless
asked; ``keyset`` walks big tables (requests) by (ts, request_id), never by OFFSET.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import QueryDict

MAX_PAGE = 10_000


def _int(value, default: int, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, number))


@dataclass
class Page:
    items: list
    number: int
    has_next: bool
    query: QueryDict
    param: str = "page"
    count: int | None = None
    size: int = 50
    extra: dict = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def num_pages(self) -> int | None:
        if self.count is None:
            return None
        return max(1, -(-self.count // self.size))

    def _with(self, number: int) -> str:
        query = self.query.copy()
        query[self.param] = str(number)
        return query.urlencode()

    @property
    def query_next(self) -> str:
        return self._with(self.number + 1)

    @property
    def query_prev(self) -> str:
        return self._with(self.number - 1)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def paginate(queryset, query: QueryDict, *, size: int = 50, param: str = "page", count: bool = False) -> Page:
    """One page of ``queryset``; fetches size+1 rows to know whether there is a next page."""
    number = _int(query.get(param), 1, 1, MAX_PAGE)
    offset = (number - 1) * size
    rows = list(queryset[offset:offset + size + 1])
    total = queryset.count() if count and isinstance(queryset, QuerySet) else (len(queryset) if count else None)
    return Page(items=rows[:size], number=number, has_next=len(rows) > size, query=query, param=param,
                count=total, size=size)


@dataclass
class KeysetPage:
    items: list
    next_cursor: str | None
    query: QueryDict
    is_first: bool

    def _with(self, cursor: str | None) -> str:
        query = self.query.copy()
        query.pop("after", None)
        if cursor:
            query["after"] = cursor
        return query.urlencode()

    @property
    def query_next(self) -> str:
        return self._with(self.next_cursor)

    @property
    def query_first(self) -> str:
        return self._with(None)


def encode_cursor(ts: datetime, key: str) -> str:
    raw = f"{ts.isoformat()}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (ts, key) a cursor stands for, or None for a missing or tampered cursor."""
    if not cursor or len(cursor) > 400:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, key = raw.split("|", 1)
        ts = datetime.fromisoformat(ts_text)
    except (ValueError, UnicodeDecodeError):
        return None
    if ts.tzinfo is None:
        return None
    return ts, key


def keyset(queryset, query: QueryDict, *, size: int = 50, ts_field: str = "ts", key_field: str = "request_id") -> KeysetPage:
    """Newest first, by (ts, key) descending; ``after`` in the query is the last row seen."""
    cursor = decode_cursor(query.get("after"))
    if cursor:
        ts, key = cursor
        queryset = queryset.filter(Q(**{f"{ts_field}__lt": ts}) | Q(**{ts_field: ts, f"{key_field}__lt": key}))
    rows = list(queryset.order_by(f"-{ts_field}", f"-{key_field}")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, ts_field), getattr(last, key_field))
    return KeysetPage(items=rows, next_cursor=next_cursor, query=query, is_first=cursor is None)
