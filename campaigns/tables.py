"""Paging for page tables: every table pages, none loads unbounded rows.

``paginate`` pages small, bounded tables (members, runs) by offset without a COUNT unless
asked; big tables (requests) are walked by the selectors' keyset on (ts, request_id), never by
OFFSET, and ``KeysetPage`` makes the page's links from the cursor they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
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
        query.pop("cursor", None)
        if cursor:
            query["cursor"] = cursor
        return query.urlencode()

    @property
    def query_next(self) -> str:
        return self._with(self.next_cursor)

    @property
    def query_first(self) -> str:
        return self._with(None)


def keyset_page(read, query: QueryDict) -> KeysetPage:
    """A KeysetPage from ``read(cursor)`` (a selector returning rows and next_cursor); a cursor
    that was tampered with starts again from the newest rows rather than failing the page."""
    from accounts.selectors import InvalidCursor

    cursor = query.get("cursor") or None
    try:
        page = read(cursor)
    except InvalidCursor:
        cursor, page = None, read(None)
    return KeysetPage(items=page.rows, next_cursor=page.next_cursor, query=query, is_first=cursor is None)
