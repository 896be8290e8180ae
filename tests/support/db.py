"""Database look-ups shared by tests."""

from __future__ import annotations

from django.db import connection


def staging_tables() -> list[str]:
    """Tables in the loader's staging schema, by name."""
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'ingest_stage' ORDER BY 1")
        return [name for (name,) in cur.fetchall()]
