"""Monthly partitions of the request table, created when a file first needs them."""

from __future__ import annotations

import psycopg


def _next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return f"{year:04d}-{mon:02d}"


def ensure_month_partitions(side: psycopg.Connection, months: set[str]) -> None:
    """Create ``request_yYYYYmMM`` for each ``YYYY-MM`` in ``months`` if missing.

    Runs on the autocommit side connection: the DDL locks the parent table only for an
    instant, instead of for the whole (possibly long) load transaction.
    """
    for month in sorted(months):
        name = f"request_y{month[:4]}m{month[5:7]}"
        side.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF request "
            f"FOR VALUES FROM ('{month}-01 00:00+00') TO ('{_next_month(month)}-01 00:00+00')"
        )
