"""A second, autocommit connection to the same database as Django's default one."""

from __future__ import annotations

import psycopg
from django.db import connection


def side_connection() -> psycopg.Connection:
    """Open an autocommit connection beside the default one (same database, same user)."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or None,
        port=settings.get("PORT") or None,
        autocommit=True,
        application_name="copycat-ingest-side",
    )
