"""Monthly partitions of the request table, created when a file first needs them."""

from __future__ import annotations


def _next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return f"{year:04d}-{mon:02d}"


def _name(month: str) -> str:
    return f"request_y{month[:4]}m{month[5:7]}"


def missing_months(conn, months: set[str]) -> list[str]:
    """The ``YYYY-MM`` of ``months`` whose partition does not exist yet, sorted."""
    ordered = sorted(months)
    if not ordered:
        return []
    exists = conn.execute("SELECT to_regclass(name) IS NOT NULL FROM unnest(%s::text[]) AS name",
                          ([_name(m) for m in ordered],)).fetchall()
    return [month for month, (found,) in zip(ordered, exists, strict=True) if not found]


def create_month_partitions(conn, months: list[str]) -> None:
    """Create ``request_yYYYYmMM`` for each ``YYYY-MM`` in ``months`` (if still missing).

    The DDL takes an exclusive lock on ``request``: on an autocommit connection for an
    instant, inside a transaction until it ends.
    """
    for month in months:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_name(month)} PARTITION OF request "
            f"FOR VALUES FROM ('{month}-01 00:00+00') TO ('{_next_month(month)}-01 00:00+00')"
        )
