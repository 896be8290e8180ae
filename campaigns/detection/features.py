"""Per-account facts and shared values, computed set-based in PostgreSQL.

Everything heavy is one GROUP BY over ``request`` or the ``account_hour`` rollup; Python gets
compact integer arrays back through COPY, never raw requests row by row.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from accounts.models import IP_TYPES

# Addresses a gateway labels as rented infrastructure rather than a person's line.
PROXIED_TYPES = tuple(IP_TYPES.index(t) for t in ("hosting", "proxy", "vpn", "tor"))
# Capabilities that distillation goes after (DESIGN.md); the focus score compares a group's
# share of them with ordinary traffic.
TARGET_CATEGORIES = ("coding", "agentic", "tool_use", "reasoning", "long_horizon", "math",
                     "data_analysis", "grading", "computer_use")


def copy_arrays(sql: str, params: list, names: list[str]) -> dict[str, np.ndarray]:
    """Run ``sql`` through COPY TO STDOUT and return its columns as numpy arrays."""
    raw = connection.cursor().connection  # psycopg 3 connection under Django's wrapper
    buf = io.BytesIO()
    with raw.cursor() as cur:
        query = cur.mogrify(sql, params) if params else sql
        with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                buf.write(block)
    if buf.tell() == 0:
        return {n: np.zeros(0, dtype=np.int64) for n in names}
    buf.seek(0)
    table = pacsv.read_csv(buf, read_options=pacsv.ReadOptions(column_names=names))
    out = {}
    for name in names:
        col = table.column(name)
        out[name] = col.to_numpy(zero_copy_only=False) if col.null_count == 0 else \
            np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False))
    return out


def _parse_columns(table, names: list[str]) -> dict[str, np.ndarray]:
    """Arrow columns as numpy; a NULL reads as -1 in number columns, None in text ones."""
    out = {}
    for i, n in enumerate(names):
        col = table.column(i)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            out[n] = col.fill_null(-1).to_numpy(zero_copy_only=False) if col.null_count else \
                col.to_numpy(zero_copy_only=False)
        elif pa.types.is_null(col.type):
            out[n] = np.full(len(col), -1, np.int64)
        else:
            out[n] = np.asarray(col.to_pylist(), dtype=object)
    return out


def _psql_command() -> tuple[list[str], dict] | None:
    """psql and its environment for Django's database, when psql is installed."""
    exe = shutil.which("psql")
    # psql is another session: inside a transaction block it would not see uncommitted rows.
    if exe is None or connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    sd = connection.settings_dict
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"),
                     ("NAME", "PGDATABASE")):
        if sd.get(key):
            env[var] = str(sd[key])
    return [exe, "-X", "-q", "-v", "ON_ERROR_STOP=1"], env


def stream_arrays(sql: str, params: list, names: list[str], chunk_bytes: int = 16 << 20):
    """Like ``copy_arrays`` but yields the result in chunks of about ``chunk_bytes`` of CSV.

    Memory stays bounded however many rows the query returns (a full scan of ``request`` on
    the seed preset is tens of millions of rows); the caller reduces each chunk as it comes.
    The rows travel through ``psql`` (C) into Arrow's streaming CSV reader when psql is
    installed and no transaction block is open: psycopg hands COPY data to Python one row at a
    time, which costs more than the scan itself. The query must not use this session's
    temporary tables.
    """
    raw = connection.cursor().connection
    with raw.cursor() as cur:
        query = (cur.mogrify(sql, params) if params else sql).strip()
    psql = _psql_command()
    if psql is not None:
        cmd, env = psql
        copy = "COPY (" + " ".join(query.split()) + ") TO STDOUT WITH (FORMAT csv)"
        proc = subprocess.Popen(cmd + ["-c", copy], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            reader = pacsv.open_csv(proc.stdout, read_options=pacsv.ReadOptions(
                column_names=names, block_size=chunk_bytes), convert_options=pacsv.ConvertOptions(
                column_types={n: pa.int64() for n in names if not n.endswith("_text")}))
            for batch in reader:
                yield _parse_columns(batch, names)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" not in str(exc):
                raise
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace")
            if proc.wait() != 0:
                raise RuntimeError(f"psql COPY failed: {err.strip()}")
        return
    opts = pacsv.ReadOptions(column_names=names)
    buf = bytearray()
    with raw.cursor() as cur:
        with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                buf += block
                if len(buf) >= chunk_bytes:
                    cut = buf.rindex(b"\n") + 1
                    yield _parse_columns(pacsv.read_csv(io.BytesIO(bytes(buf[:cut])), read_options=opts), names)
                    del buf[:cut]
    if buf:
        yield _parse_columns(pacsv.read_csv(io.BytesIO(bytes(buf)), read_options=opts), names)


def window_clause(since: datetime | None, until: datetime | None, column: str) -> tuple[str, list]:
    parts, params = [], []
    if since is not None:
        parts.append(f"{column} >= %s")
        params.append(since)
    if until is not None:
        parts.append(f"{column} < %s")
        params.append(until)
    return (" AND ".join(parts) or "TRUE"), params


@dataclass
class Universe:
    """The accounts active in the window, in a fixed order (index = position)."""

    ids: np.ndarray          # account.id
    org: np.ndarray          # organisation id; accounts without one are their own organisation
    created: np.ndarray      # epoch seconds of sign-up (0 when unknown)
    billing_cid: np.ndarray  # lookup_country id of the billing country (-1 unseen, -2 none on record)

    @property
    def size(self) -> int:
        return int(self.ids.size)

    def index_of(self, account_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, account_ids)


def build_universe(since, until) -> Universe:
    """Accounts with traffic in the window, into temp table det_acct (dropped at commit)."""
    where, params = window_clause(since, until, "h.hour")
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS det_acct")
        cur.execute(f"""
            CREATE TEMP TABLE det_acct AS
            SELECT a.id AS account_id, COALESCE(a.org_id, -a.id) AS org,
                   COALESCE(extract(epoch FROM a.created_at)::bigint, 0) AS created,
                   -- billing country as a lookup id (-1: a country no request ever came from)
                   CASE WHEN a.billing_country IS NOT NULL THEN COALESCE(c.id, -1) END AS billing_cid
            FROM account a LEFT JOIN lookup_country c ON c.value = a.billing_country
            WHERE a.id IN (SELECT DISTINCT h.account_id FROM account_hour h WHERE {where})
        """, params)
        cur.execute("CREATE UNIQUE INDEX ON det_acct (account_id)")
        cur.execute("ANALYZE det_acct")
    cols = copy_arrays("SELECT account_id, org, created, COALESCE(billing_cid, -2) FROM det_acct ORDER BY account_id",
                       [], ["id", "org", "created", "billing"])
    return Universe(cols["id"].astype(np.int64), cols["org"].astype(np.int64), cols["created"].astype(np.int64),
                    cols["billing"].astype(np.int64))


def request_facts(since, until) -> dict[str, np.ndarray]:
    """Per account: requests, proxied requests, requests from a country other than billing."""
    where, params = window_clause(since, until, "r.ts")
    proxied = ",".join(str(t) for t in PROXIED_TYPES)
    return copy_arrays(f"""
        SELECT r.account_id, count(*),
               count(*) FILTER (WHERE r.ip_type IN ({proxied})),
               count(*) FILTER (WHERE a.billing_country IS NOT NULL AND c.value IS NOT NULL
                                AND c.value <> a.billing_country)
        FROM request r JOIN account a ON a.id = r.account_id
        LEFT JOIN lookup_country c ON c.id = r.country_id
        WHERE {where}
        GROUP BY r.account_id
    """, params, ["account_id", "requests", "proxied", "foreign"])


PIVOT_HOURS = 72


def hour_facts(since, until, window_start: float | None = None) -> dict[str, np.ndarray]:
    """Per account × UTC hour-of-day × category × model, from the account_hour rollup.

    ``new_model`` counts requests on a model in the PIVOT_HOURS after that model first
    appeared in all traffic, for models that first appeared at least two days into the window
    (released during it): the pivot a distiller makes to a fresh model.
    """
    where, params = window_clause(since, until, "h.hour")
    late = "f.first > to_timestamp(%s) + interval '2 days'" if window_start is not None else "FALSE"
    late_params = [window_start] if window_start is not None else []
    return copy_arrays(f"""
        WITH f AS (SELECT model_id, min(hour) AS first FROM traffic_hour GROUP BY model_id)
        SELECT h.account_id, extract(hour FROM h.hour AT TIME ZONE 'UTC')::int, h.category_id,
               h.model_id, sum(h.requests), sum(h.output_tokens), sum(h.reasoning_requests),
               count(DISTINCT date_trunc('day', h.hour)),
               COALESCE(sum(h.requests) FILTER (WHERE {late}
                                                AND h.hour < f.first + interval '{PIVOT_HOURS} hours'), 0)
        FROM account_hour h LEFT JOIN f ON f.model_id = h.model_id
        WHERE {where}
        GROUP BY 1, 2, 3, 4
    """, late_params + params, ["account_id", "hod", "category", "model", "requests", "tokens_out", "reasoning",
                                "days", "new_model"])


def model_first_seen(since, until) -> dict[int, float]:
    """Epoch seconds of each model's first hour in all traffic (a release, for pivots)."""
    with connection.cursor() as cur:
        cur.execute("SELECT model_id, extract(epoch FROM min(hour)) FROM traffic_hour GROUP BY model_id")
        return {int(m): float(t) for m, t in cur.fetchall()}


def lookup_values(table: str) -> dict[int, str]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT id, value FROM {table}")
        return dict(cur.fetchall())
