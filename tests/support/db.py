"""Database look-ups shared by tests."""

from __future__ import annotations

import importlib

from django.db import connection


def staging_tables() -> list[str]:
    """Tables in the loader's staging schema, by name."""
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'ingest_stage' ORDER BY 1")
        return [name for (name,) in cur.fetchall()]


def rebuild_traffic_values() -> None:
    """``account_traffic_value`` recomputed from the request table the way the migration that made
    it fills it: for worlds whose requests are inserted by hand rather than ingested."""
    backfill = importlib.import_module("accounts.migrations.0008_account_traffic_value").BACKFILL
    with connection.cursor() as cur:
        cur.execute("DELETE FROM account_traffic_value")
        cur.execute(backfill)


def traffic_values_table() -> set[tuple]:
    with connection.cursor() as cur:
        cur.execute("SELECT kind, value, account_id, first_seen, last_seen, requests FROM account_traffic_value")
        return set(cur.fetchall())
