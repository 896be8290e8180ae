"""Request records: COPY into a staging table, then set-based merges.

Low-cardinality strings are dictionary-encoded in Python while staging (cheap dict look-ups
on the parsing core) so the merge joins nothing but accounts and API keys.
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
from operator import itemgetter

from psycopg._copy_base import format_row_text  # pinned psycopg; tests load through it
from psycopg.adapt import Transformer
from psycopg.errors import UniqueViolation

from ingest.loader.lookups import LOOKUP_TABLES, LookupCache
from ingest.loader.partitions import create_month_partitions, missing_months
from ingest.loader.sessions import merge_sessions
from ingest.loader.staging import StagedChunk
from ingest.validation import IP_TYPES, REQUEST_FIELDS

_SQL_TYPES = {
    "ts": "timestamptz",
    "ip": "inet",
    "asn": "bigint",
    "ip_type": "smallint",
    "status_code": "smallint",
    "input_tokens": "integer",
    "output_tokens": "integer",
    "latency_ms": "integer",
    "prompt_simhash": "bigint",
    "turn": "integer",
    "tool_count": "integer",
    "reasoning_requested": "boolean",
    "stream": "boolean",
}
_LOOKUP_FIELDS = [f for f in REQUEST_FIELDS if f in LOOKUP_TABLES]
_IDX = {name: i for i, name in enumerate(REQUEST_FIELDS)}
_IP_TYPE_CODES = {name: code for code, name in enumerate(IP_TYPES)}
_TS, _IP_TYPE, _SIMHASH = _IDX["ts"], _IDX["ip_type"], _IDX["prompt_simhash"]
_SIGN = 1 << 63


def _stage_type(name: str) -> str:
    if name in LOOKUP_TABLES:
        return "integer"
    return _SQL_TYPES.get(name, "text")


STAGE_COLUMNS = ["line", *REQUEST_FIELDS]
STAGE_DDL = ", ".join(["line bigint", *(f"{name} {_stage_type(name)}" for name in REQUEST_FIELDS)])
_REQUEST_COLUMNS = """ts, asn, prompt_simhash, account_id, api_key_id, org_id, country_id, user_agent_id,
    client_fingerprint_id, model_id, input_tokens, output_tokens, latency_ms, category_id,
    template_id, system_prompt_id, turn, tool_count, prompt_lang_id, ingest_run_id,
    status_code, ip_type, reasoning_requested, stream, ip, request_id, end_user_id,
    prompt_hash, conversation_id"""
_NEW_REQUESTS = """
    SELECT n.ts, n.asn, n.prompt_simhash, n.account_pk, k.id, n.org_id, n.country, n.user_agent,
        n.client_fingerprint, n.model, n.input_tokens, n.output_tokens, n.latency_ms, n.category,
        n.template_hash, n.system_prompt_hash, n.turn, n.tool_count, n.prompt_lang, {run_id}::integer,
        n.status_code, n.ip_type, n.reasoning_requested, n.stream, n.ip, n.request_id, n.end_user_id,
        n.prompt_hash, n.conversation_id
    FROM stage_new n LEFT JOIN api_key k ON k.key_id = n.api_key_id
"""
_FILE_NEW_DDL = """
CREATE TEMP TABLE file_new (account_pk integer, key_pk integer, ts timestamptz, model integer,
                            category integer, input_tokens integer, output_tokens integer,
                            reasoning boolean, status_code smallint, template integer,
                            client_fingerprint integer) ON COMMIT DROP
"""


def _signed64(hex16: str) -> int:
    value = int(hex16, 16)
    return value - (1 << 64) if value >= _SIGN else value


class RequestEncoder:
    """Turns validated rows into COPY text for ``stage_request`` (runs on the reader thread).

    It works column by column (``map`` over a column runs in C, a per-field Python loop does
    not), and sets aside repeats of a request_id inside the current chunk: the first one is
    staged (the spec keeps the first), the repeats go to ``stage_repeat`` so the merge can
    tell plain repeats from conflicting ones. Repeats across chunks and files are caught by
    ``request_key``.
    """

    def __init__(self, lookups: LookupCache):
        self._lookups = lookups
        # psycopg's own C row formatter, used without a connection: the reader thread makes
        # the COPY bytes so the loading thread only ships them.
        self._transformer = Transformer()
        self._seen: set[str] = set()
        self.months: set[str] = set()

    def new_chunk(self) -> None:
        self._seen.clear()

    def encode(self, good: list[tuple[int, tuple]], lines: list[int] = (), columns: list | None = None
               ) -> tuple[bytes, int, bytes, int]:
        """Return (COPY bytes, rows, COPY bytes of in-chunk repeats, repeats).

        Rows come as ``good`` (validated rows) and/or as ``lines`` with ``columns`` (the
        fast path's rows, column by column); they are staged in line order.
        """
        lines, columns = _in_line_order(good, lines, columns)
        if not lines:
            return b"", 0, b"", 0
        first, repeated = self._split_repeats(lines, columns)
        if repeated is None:
            return self._format(lines, columns), len(lines), b"", 0
        return (self._format(*_take(lines, columns, first)), len(first),
                self._format(*_take(lines, columns, repeated)), len(repeated))

    def _split_repeats(self, lines: list[int], columns: list) -> tuple[list[int] | None, list[int] | None]:
        """Positions of first sightings and of repeats; (None, None) when nothing repeats."""
        seen, ids = self._seen, columns[0]
        if len(set(ids)) == len(ids) and seen.isdisjoint(ids):
            seen.update(ids)
            return None, None
        first, repeated = [], []
        for i, request_id in enumerate(ids):
            if request_id in seen:
                repeated.append(i)
            else:
                seen.add(request_id)
                first.append(i)
        return first, repeated

    def _format(self, lines: list[int], columns: list) -> bytes:
        if not lines:
            return b""
        columns = list(columns)
        for name in _LOOKUP_FIELDS:
            i = _IDX[name]
            table = LOOKUP_TABLES[name]
            values = set(columns[i])
            values.discard(None)
            self._lookups.register(table, values)
            columns[i] = list(map(self._lookups.ids(table).get, columns[i]))
        columns[_IP_TYPE] = list(map(_IP_TYPE_CODES.get, columns[_IP_TYPE]))
        columns[_SIMHASH] = [None if v is None else _signed64(v) for v in columns[_SIMHASH]]
        self.months.update({ts[:7] for ts in columns[_TS]})
        # psycopg's C row formatter mapped straight over the rows: no Python frame per row.
        out = bytearray()
        deque(map(format_row_text, zip(lines, *columns, strict=True), repeat(self._transformer), repeat(out)),
              maxlen=0)
        return bytes(out)


def _in_line_order(good: list[tuple[int, tuple]], lines, columns) -> tuple[list[int], list]:
    """One set of columns from validated rows and fast-path columns, in file order.

    Order matters for repeats of a request_id: the first in the file is the one kept.
    """
    if not good:
        return list(lines), columns or []
    rows = [(line, *row) for line, row in good]
    if lines:
        rows.extend(zip(lines, *columns, strict=True))
        rows.sort(key=itemgetter(0))
    transposed = list(zip(*rows, strict=True))
    return list(transposed[0]), transposed[1:]


def _take(lines: list[int], columns: list, positions: list[int]) -> tuple[list[int], list]:
    return [lines[i] for i in positions], [[column[i] for i in positions] for column in columns]


class RequestLoader:
    """Merges staged chunks (``ingest.loader.staging``) into the shared tables, one at a time.

    Every chunk is merged inside the file's one transaction, so the file still loads whole
    or not at all; chunking only lets the reader parse the next chunk while this one merges.
    Rollups and sessions are folded in once, by ``finish``, from what the chunks kept aside.
    """

    def __init__(self, cursor, run_id: int, side):
        self._cursor = cursor
        self._run_id = run_id
        self._side = side
        self.counts = {"loaded": 0, "duplicates": 0, "conflicting_duplicates": 0}
        self._inserted = False  # whether this transaction has written to request yet
        cursor.execute(_FILE_NEW_DDL)

    def merge(self, chunk: StagedChunk | None, months: set[str]) -> None:
        """Merge a staged chunk; add to ``counts``. Its tables are dropped after the commit."""
        if chunk is None:
            return
        self._add_partitions(months)
        execute = self._cursor.execute
        execute("SET LOCAL default_statistics_target = 10")
        execute(_on(chunk, "ANALYZE stage_request"))
        for statement in _MERGE:
            execute(_on(chunk, statement))
        all_new = self._claim_request_ids()
        execute("ANALYZE stage_new")
        execute(_API_KEYS)
        # INSERT ... SELECT, not a COPY round trip through this client: the server does the
        # work while the reader thread keeps the GIL for parsing (measured: the round trip
        # was slower end to end, 148 s against 133 s for 4M rows).
        execute(f"INSERT INTO request ({_REQUEST_COLUMNS}) {_NEW_REQUESTS.format(run_id=int(self._run_id))}")
        self._inserted = True
        for statement in _AFTER_INSERT:
            execute(statement)
        loaded = chunk.rows if all_new else _scalar(self._cursor, "SELECT count(*) FROM stage_new")
        duplicates = chunk.rows - loaded
        self.counts["loaded"] += loaded
        self.counts["duplicates"] += duplicates
        if duplicates:
            self.counts["conflicting_duplicates"] += _scalar(self._cursor, _CONFLICTS)
        if chunk.repeats:
            self.counts["duplicates"] += chunk.repeats
            self.counts["conflicting_duplicates"] += _scalar(self._cursor, _on(chunk, _REPEAT_CONFLICTS))
        execute("DROP TABLE IF EXISTS stage_first, stage_new")

    def _add_partitions(self, months: set[str]) -> None:
        """Create the monthly partitions this chunk needs.

        Before the file's first insert into ``request`` they are made on the side connection,
        so the DDL's exclusive lock on ``request`` lasts an instant. After it, this transaction
        holds a lock on ``request`` that the side connection would wait on forever (a wait
        PostgreSQL cannot see as a deadlock): a month first met in a later chunk gets its
        partition inside this transaction, and ``request`` stays locked to others until the
        file commits. That is rare (a file running into a month no load has reached yet).
        """
        missing = missing_months(self._side, months)
        if missing:
            create_month_partitions(self._cursor if self._inserted else self._side, missing)

    def _claim_request_ids(self) -> bool:
        """Insert the chunk's request ids into ``request_key``; what went in is ``stage_new``.
        True when every staged row was new.

        Usually every id is new, and a plain insert costs about half of ``ON CONFLICT`` and
        needs no join to find what went in: the chunk is renamed ``stage_new``. A repeat
        from an earlier chunk or load fails that insert (the merge lock keeps other loaders
        out, so nothing else can), and the chunk then takes the ``ON CONFLICT`` path.
        """
        execute = self._cursor.execute
        execute("SAVEPOINT claim_request_ids")
        try:
            execute(_CLAIM_ALL)
        except UniqueViolation:
            execute("ROLLBACK TO SAVEPOINT claim_request_ids")
            execute(_CLAIM_NEW)
            return False
        execute("RELEASE SAVEPOINT claim_request_ids")
        execute("ALTER TABLE stage_first RENAME TO stage_new")
        return True

    def finish(self) -> None:
        """Fold the file's new requests into rollups, account activity and sessions, once."""
        if not self.counts["loaded"]:
            return
        for statement in _FINISH:
            self._cursor.execute(statement)
        merge_sessions(self._cursor)


def _on(chunk: StagedChunk, sql: str) -> str:
    """``sql`` written against ``stage_request`` / ``stage_repeat``, aimed at the chunk's tables."""
    return sql.replace("stage_request", chunk.rows_table).replace("stage_repeat", chunk.repeats_table or "stage_repeat")


def _scalar(cursor, sql: str) -> int:
    cursor.execute(sql)
    return cursor.fetchone()[0]


_MERGE = [
    # Requests may name accounts whose record comes later, or never: keep a placeholder.
    # Most accounts exist already; the anti-join spares them an ON CONFLICT probe each.
    """
    INSERT INTO account (account_id, is_placeholder, request_count, updated_at)
    SELECT account_id, true, 0, now()
    FROM (SELECT DISTINCT account_id FROM stage_request) s
    WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.account_id = s.account_id)
    ORDER BY 1
    ON CONFLICT (account_id) DO NOTHING
    """,
    """
    CREATE TEMP TABLE stage_first AS
    SELECT s.*, a.id AS account_pk
    FROM stage_request s JOIN account a ON a.account_id = s.account_id
    """,
]

_CLAIM_ALL = "INSERT INTO request_key (request_id, ts, account_id) SELECT request_id, ts, account_pk FROM stage_first"
# request_key decides what is new: an id already there (from an earlier chunk, file or
# load) is skipped, so overlapping files never double a request.
_CLAIM_NEW = f"""
CREATE TEMP TABLE stage_new AS
WITH inserted AS ({_CLAIM_ALL} ON CONFLICT (request_id) DO NOTHING RETURNING request_id)
SELECT f.* FROM stage_first f JOIN inserted USING (request_id)
"""

# A key belongs to the first account seen with it; keys are almost always one account's,
# so grouping by (key, account) first keeps the ordering step tiny.
_API_KEYS = """
INSERT INTO api_key (key_id, account_id, first_seen, last_seen)
SELECT DISTINCT ON (api_key_id) api_key_id, account_pk,
       min(first_ts) OVER (PARTITION BY api_key_id), max(last_ts) OVER (PARTITION BY api_key_id)
FROM (SELECT api_key_id, account_pk, min(ts) AS first_ts, max(ts) AS last_ts
      FROM stage_new WHERE api_key_id IS NOT NULL GROUP BY 1, 2) per_account
ORDER BY api_key_id, first_ts
ON CONFLICT (key_id) DO UPDATE
SET first_seen = least(api_key.first_seen, excluded.first_seen),
    last_seen = greatest(api_key.last_seen, excluded.last_seen)
"""

_AFTER_INSERT = [
    """
    INSERT INTO request_excerpt (request_id, excerpt)
    SELECT request_id, prompt_excerpt FROM stage_new WHERE prompt_excerpt IS NOT NULL
    """,
    # What rollups and sessions need, kept for the end of the file: folding it in once there
    # instead of per chunk matters when chunks overlap in time (files need not be ordered).
    """
    INSERT INTO file_new (account_pk, key_pk, ts, model, category, input_tokens, output_tokens,
                          reasoning, status_code, template, client_fingerprint)
    SELECT n.account_pk, coalesce(k.id, 0), n.ts, n.model, coalesce(n.category, 0), n.input_tokens,
           n.output_tokens, n.reasoning_requested, n.status_code, n.template_hash, n.client_fingerprint
    FROM stage_new n LEFT JOIN api_key k ON k.key_id = n.api_key_id
    """,
]

_FINISH = [
    "ANALYZE file_new",
    # One hashed pass over the file's rows; the three rollups below read its few groups.
    # (Sorting the rows for each upsert took most of the finish: 4 s of 6 s for 2M rows.)
    """
    CREATE TEMP TABLE hour_new ON COMMIT DROP AS
    SELECT account_pk, date_trunc('hour', ts) AS hour, model, category, count(*) AS requests,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           count(*) FILTER (WHERE reasoning) AS reasoning_requests,
           count(*) FILTER (WHERE status_code >= 400) AS error_requests,
           min(ts) AS first_ts, max(ts) AS last_ts
    FROM file_new GROUP BY 1, 2, 3, 4
    """,
    """
    INSERT INTO account_hour (account_id, hour, model_id, category_id, requests, input_tokens,
                              output_tokens, reasoning_requests, error_requests)
    SELECT account_pk, hour, model, category, requests, input_tokens, output_tokens,
           reasoning_requests, error_requests
    FROM hour_new
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (account_id, hour, model_id, category_id) DO UPDATE
    SET requests = account_hour.requests + excluded.requests,
        input_tokens = account_hour.input_tokens + excluded.input_tokens,
        output_tokens = account_hour.output_tokens + excluded.output_tokens,
        reasoning_requests = account_hour.reasoning_requests + excluded.reasoning_requests,
        error_requests = account_hour.error_requests + excluded.error_requests
    """,
    """
    INSERT INTO traffic_hour (hour, model_id, category_id, requests, input_tokens, output_tokens,
                              reasoning_requests, error_requests)
    SELECT hour, model, category, sum(requests), sum(input_tokens), sum(output_tokens),
           sum(reasoning_requests), sum(error_requests)
    FROM hour_new GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (hour, model_id, category_id) DO UPDATE
    SET requests = traffic_hour.requests + excluded.requests,
        input_tokens = traffic_hour.input_tokens + excluded.input_tokens,
        output_tokens = traffic_hour.output_tokens + excluded.output_tokens,
        reasoning_requests = traffic_hour.reasoning_requests + excluded.reasoning_requests,
        error_requests = traffic_hour.error_requests + excluded.error_requests
    """,
    # Kinds as in AccountTrafficValue.Kind: 1 template, 2 client fingerprint. Grouping sets
    # hash both in one pass over the file's rows (1.1 s for 2M rows of the benchmark's file, whose
    # templates are random per request; unnesting each row into two first took 1.9 s).
    """
    INSERT INTO account_traffic_value (kind, value, account_id, first_seen, last_seen, requests)
    SELECT kind, value, account_pk, first_seen, last_seen, requests
    FROM (SELECT grouping(template)::smallint + 1 AS kind, coalesce(template, client_fingerprint) AS value,
                 account_pk, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS requests
          FROM file_new
          GROUP BY GROUPING SETS ((template, account_pk), (client_fingerprint, account_pk))) per_value
    WHERE value IS NOT NULL
    ON CONFLICT (kind, value, account_id) DO UPDATE
    SET first_seen = least(account_traffic_value.first_seen, excluded.first_seen),
        last_seen = greatest(account_traffic_value.last_seen, excluded.last_seen),
        requests = account_traffic_value.requests + excluded.requests
    """,
    """
    UPDATE account a
    SET first_request_at = least(a.first_request_at, s.first_ts),
        last_request_at = greatest(a.last_request_at, s.last_ts),
        request_count = a.request_count + s.n
    FROM (SELECT account_pk, min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(requests) AS n
          FROM hour_new GROUP BY account_pk) s
    WHERE a.id = s.account_pk
    """,
]

# Where a staged column lives in the request table (lookups are stored as ids).
_STORED_AS = {
    "org_id": "org_id", "country": "country_id", "user_agent": "user_agent_id",
    "client_fingerprint": "client_fingerprint_id", "model": "model_id", "category": "category_id",
    "template_hash": "template_id", "system_prompt_hash": "system_prompt_id", "prompt_lang": "prompt_lang_id",
}
_IN_STAGE = [f for f in REQUEST_FIELDS if f != "request_id"]
_VS_STORED = [f for f in REQUEST_FIELDS if f not in ("request_id", "account_id", "api_key_id", "prompt_excerpt")]


def _row(alias: str, names: list[str]) -> str:
    return "(" + ", ".join(f"{alias}.{n}" for n in names) + ")"


# A repeat whose content differs from the record kept by an earlier chunk or load. Only
# repeats are compared, so a file of new requests pays nothing here.
_CONFLICTS = f"""
SELECT count(*)
FROM stage_first f
JOIN request_key k USING (request_id)
JOIN request r ON r.request_id = f.request_id AND r.ts = k.ts AND r.account_id = k.account_id
LEFT JOIN api_key ak ON ak.id = r.api_key_id
LEFT JOIN request_excerpt e ON e.request_id = f.request_id
WHERE NOT EXISTS (SELECT 1 FROM stage_new n WHERE n.request_id = f.request_id)
  AND ({_row("f", _VS_STORED)} IS DISTINCT FROM
       ({", ".join("r." + _STORED_AS.get(n, n) for n in _VS_STORED)})
       OR f.account_pk IS DISTINCT FROM r.account_id
       OR f.api_key_id IS DISTINCT FROM ak.key_id
       OR f.prompt_excerpt IS DISTINCT FROM e.excerpt)
"""

# Repeats inside one chunk, against the first record of the same request_id in that chunk.
_REPEAT_CONFLICTS = f"""
SELECT count(*) FROM stage_repeat r JOIN stage_request s USING (request_id)
WHERE {_row("r", _IN_STAGE)} IS DISTINCT FROM {_row("s", _IN_STAGE)}
"""
