"""Dictionary encoding of low-cardinality strings (model, category, user agent, ...).

Values are registered through the autocommit side connection, sorted, so two loaders that
meet the same new values never deadlock, and never wait on each other's open transaction.
A value left behind by a file that later failed is an unused dictionary entry, not data.
"""

from __future__ import annotations

import psycopg

# field name in the log format -> lookup table
LOOKUP_TABLES: dict[str, str] = {
    "org_id": "org",
    "country": "lookup_country",
    "user_agent": "lookup_user_agent",
    "client_fingerprint": "lookup_client_fingerprint",
    "model": "lookup_model",
    "category": "lookup_category",
    "template_hash": "lookup_template",
    "system_prompt_hash": "lookup_system_prompt",
    "prompt_lang": "lookup_language",
    "signup_country": "lookup_country",
    "billing_country": "lookup_country",
}


class LookupCache:
    """Maps a lookup value to its integer id, registering new values on first sight."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn
        self._ids: dict[str, dict[str, int]] = {}

    def ids(self, table: str) -> dict[str, int]:
        return self._ids.setdefault(table, {})

    def register(self, table: str, values: set[str]) -> None:
        """Make sure every value in ``values`` has an id in ``table``."""
        known = self.ids(table)
        missing = sorted(v for v in values if v not in known)
        if not missing:
            return
        self._conn.execute(
            f"INSERT INTO {table} (value) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT (value) DO NOTHING",
            (missing,),
        )
        rows = self._conn.execute(f"SELECT value, id FROM {table} WHERE value = ANY(%s)", (missing,)).fetchall()
        known.update(rows)
