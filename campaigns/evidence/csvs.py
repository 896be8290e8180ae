"""The packet's CSV files, streamed from PostgreSQL in constant memory.

Big outputs (requests, sessions, infrastructure) are written by ``COPY (SELECT ...) TO STDOUT``
straight into the file; personal values are replaced inside the query by the same keyed hash
``redaction.Redactor`` computes (see ``redaction.sql_hmac``). Every query has a total order, so
the same snapshot always gives the same bytes; gzip files carry mtime 0 and no name.
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Count
from isal import igzip

from accounts.models import IP_TYPES, Account
from campaigns.evidence.redaction import Redactor, sql_hmac
from campaigns.models import Membership
from copycat.db import side_connection

REQUEST_STREAMS = 2  # connections building the requests file at once (one core each)
# The requests file is built by slices of time. A slice's compressed CSV is held until its turn
# to be written, so a slice is cut at about this many of the campaign's requests (by its hourly
# rollup) and at most this many hours (rollup hours missing: traffic loaded since it was built).
ROWS_PER_SLICE = 250_000
SLICE_HOURS = 24

REQUEST_COLUMNS = (
    "request_id", "ts", "account_id", "api_key_id", "org_id", "ip", "ip_network", "country", "asn", "ip_type",
    "user_agent", "client_fingerprint", "end_user_id", "model", "status_code", "input_tokens", "output_tokens",
    "latency_ms", "category", "prompt_hash", "prompt_simhash", "template_hash", "system_prompt_hash",
    "conversation_id", "turn", "tool_count", "reasoning_requested", "stream", "prompt_lang",
)
_TS = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_NET = "network(set_masklen({0}, CASE WHEN family({0}) = 4 THEN 24 ELSE 48 END))::text"
_IP_TYPE = "(ARRAY[" + ",".join(f"'{t}'" for t in IP_TYPES) + "])[{} + 1]"


@dataclass
class Scope:
    """What the packet covers: the campaign, its active members and the time window."""

    campaign_id: int
    account_ids: list[int]
    start: datetime | None
    end: datetime | None


def scope_for(campaign_id: int) -> Scope:
    ids = sorted(Membership.objects.filter(campaign_id=campaign_id, active=True).values_list("account_id", flat=True))
    from django.db.models import Max, Min

    window = Account.objects.filter(pk__in=ids).aggregate(start=Min("first_request_at"), end=Max("last_request_at"))
    return Scope(campaign_id, ids, window["start"], window["end"])


def time_slices(scope: Scope) -> list[tuple[datetime, datetime]]:
    """Consecutive half-open ranges [lo, hi) of ``ts`` that cover the window, each holding about
    ROWS_PER_SLICE of the campaign's requests by its ``campaign_hour`` rollup.

    The rollup only sizes the slices: a stale one makes them uneven, never wrong.
    """
    if scope.start is None:
        return []
    end = scope.end + timedelta(microseconds=1)
    with connection.cursor() as cur:
        cur.execute("""SELECT hour, sum(requests) FROM campaign_hour
                       WHERE campaign_id = %s AND hour >= date_trunc('hour', %s::timestamptz) AND hour < %s
                       GROUP BY hour ORDER BY hour""", [scope.campaign_id, scope.start, end])
        hours = cur.fetchall()
    bounds, rows = [scope.start], 0
    for hour, requests in [*hours, (end, 0)]:
        # hours missing from the rollup (no traffic, or loaded since) still end a slice at SLICE_HOURS
        while hour - bounds[-1] > timedelta(hours=SLICE_HOURS):
            bounds.append(_hour_floor(bounds[-1]) + timedelta(hours=SLICE_HOURS))
            rows = 0
        if rows and rows + requests > ROWS_PER_SLICE and hour > bounds[-1]:
            bounds.append(hour)
            rows = 0
        rows += requests
    if bounds[-1] < end:
        bounds.append(end)
    return list(itertools.pairwise(bounds))


def _hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _params(redactor: Redactor, **extra) -> dict:
    ipad, opad = redactor.sql_pads()
    return {"ipad": ipad, "opad": opad, **extra}


def _redacted_sql(redactor: Redactor, expr: str, label: str) -> str:
    if not redactor.enabled:
        return expr
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE '{label}:' || {sql_hmac(expr)} END"


def _gzip(fileobj) -> igzip.IGzipFile:
    """A gzip writer with no name and mtime 0, so the same rows give the same bytes.

    The requests file of a big campaign is gigabytes of CSV. ISA-L's level 1 compresses a
    million of them (210 MB) in 0.45 s to 30% of their size; zlib's level 1 took 1.6-2.0 s for
    33%, and more than a minute of a core at seed scale.
    """
    return igzip.IGzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0, compresslevel=1)


@contextmanager
def _writer(path: Path, gz: bool = False):
    if gz:
        with open(path, "wb") as raw, _gzip(raw) as fh:
            yield fh
    else:
        with open(path, "wb") as fh:
            yield fh


def _copy(fh, query: str, params: dict, work_mem: str | None = None) -> None:
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        if work_mem:
            cursor.execute(f"SET LOCAL work_mem = '{work_mem}'")
        with cursor.copy(query, params) as copy:
            for block in copy:
                fh.write(block)


# Account-side files of all members in one statement: a member's sessions lie all over the
# table (it is written in time order), so walking the members by groups read most of its
# pages again for every group, from disk once the database outgrew memory. One scan and one
# sort (on disk past this) read each page once.
SORT_MEM = "256MB"


def _header(fh, columns) -> None:
    fh.write((",".join(columns) + "\n").encode())


DIGESTS = "packet_ip_digest"  # temp table on each request stream: the addresses met so far and their tokens
_SLICE = "r.account_id = ANY(%(ids)s) AND r.ts >= %(lo)s AND r.ts < %(hi)s"


def _ip_tokens(redactor: Redactor, column: str) -> tuple[str, str]:
    """SQL of the address's and its network's tokens: the same in a row and in the digest table."""
    return _redacted_sql(redactor, f"host({column})", "ip"), _redacted_sql(redactor, _NET.format(column), "net")


def write_requests(path: Path, scope: Scope, redactor: Redactor,
                   progress: Callable[[float], None] | None = None) -> int:
    """All requests of the active members in the window, gzip CSV, in time order (ts, id).

    Built by slices of time, not by groups of accounts: a slice reads one stretch of the
    time-ordered heap once. By accounts, every group read pages all over the table, and once
    the database outgrew memory each page was read from disk again for each group.

    Redacted, each stream digests every address once: before a slice, the addresses it has not
    met yet go into a temp table with their tokens (the slice's pages, just read, are read again
    from memory), and the rows take their tokens from there; a campaign behind a proxy pool
    uses the same few thousand addresses all along. Returns the number of slices.
    """
    end_user = _redacted_sql(redactor, "r.end_user_id", "text")
    prepare = None
    if redactor.enabled:
        # An address the table lacks (a request loaded between the two statements) is digested
        # in its row, to the same token.
        in_row = _ip_tokens(redactor, "r.ip")
        ip, net = f"coalesce(d.ip_text, {in_row[0]})", f"coalesce(d.net_text, {in_row[1]})"
        ip_join = f"LEFT JOIN {DIGESTS} d ON d.ip = r.ip"
        new_digests = f"""
            INSERT INTO {DIGESTS} (ip, ip_text, net_text)
            SELECT s.ip, {", ".join(_ip_tokens(redactor, "s.ip"))}
            FROM (SELECT DISTINCT r.ip FROM request r WHERE {_SLICE}) s
            WHERE NOT EXISTS (SELECT 1 FROM {DIGESTS} d WHERE d.ip = s.ip)"""

        def prepare(conn, params: dict) -> None:
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {DIGESTS} "
                         "(ip inet PRIMARY KEY, ip_text text, net_text text)")
            if conn.execute(new_digests, params).rowcount:
                conn.execute(f"ANALYZE {DIGESTS}")  # so the slice's rows are hash-joined to it
    else:
        ip, net, ip_join = "host(r.ip)", _NET.format("r.ip"), ""
    query = f"""
        COPY (
          SELECT r.request_id, {_TS.format('r.ts')}, a.account_id, k.key_id, o.value, {ip}, {net}, c.value, r.asn,
                 {_IP_TYPE.format('r.ip_type')}, ua.value, cf.value, {end_user}, m.value, r.status_code,
                 r.input_tokens, r.output_tokens, r.latency_ms, cat.value, r.prompt_hash,
                 lpad(to_hex(r.prompt_simhash), 16, '0'), t.value, sp.value, r.conversation_id, r.turn,
                 r.tool_count, r.reasoning_requested, r.stream, lang.value
          FROM request r
          JOIN account a ON a.id = r.account_id
          LEFT JOIN api_key k ON k.id = r.api_key_id
          LEFT JOIN org o ON o.id = r.org_id
          LEFT JOIN lookup_country c ON c.id = r.country_id
          LEFT JOIN lookup_user_agent ua ON ua.id = r.user_agent_id
          LEFT JOIN lookup_client_fingerprint cf ON cf.id = r.client_fingerprint_id
          LEFT JOIN lookup_model m ON m.id = r.model_id
          LEFT JOIN lookup_category cat ON cat.id = r.category_id
          LEFT JOIN lookup_template t ON t.id = r.template_id
          LEFT JOIN lookup_system_prompt sp ON sp.id = r.system_prompt_id
          LEFT JOIN lookup_language lang ON lang.id = r.prompt_lang_id
          {ip_join}
          WHERE {_SLICE}
          ORDER BY r.ts, r.request_id
        ) TO STDOUT WITH (FORMAT csv)"""
    slices = time_slices(scope)
    with _writer(path, gz=True) as fh:
        _header(fh, REQUEST_COLUMNS)
    params = (_params(redactor, ids=scope.account_ids, lo=lo, hi=hi) for lo, hi in slices)
    with open(path, "ab") as out:
        for done, member in enumerate(_gzip_members(query, params, prepare), 1):
            out.write(member)
            if progress:
                progress(done / len(slices))
    return len(slices)


def _gzip_members(query: str, params: Iterable[dict], prepare: Callable | None = None) -> Iterator[bytes]:
    """Each slice's COPY output as one gzip member, produced by REQUEST_STREAMS connections at
    once and yielded in order; ``prepare(conn, params)`` runs before each slice's COPY.

    PostgreSQL building the rows is the slow side of the requests file, and one backend uses one
    core; concatenated gzip members are one valid gzip stream, so slices can be made apart and
    joined. At most REQUEST_STREAMS + 1 compressed slices are held, so memory stays flat.
    """
    local = threading.local()
    opened: list = []

    def make(chunk_params: dict) -> bytes:
        if not hasattr(local, "conn"):
            local.conn = side_connection("copycat-packet-requests")
            opened.append(local.conn)
            # a slice's rows are sorted by time in memory, not in temp files
            local.conn.execute("SET work_mem = '128MB'")
        if prepare:
            prepare(local.conn, chunk_params)
        buffer = io.BytesIO()
        with _gzip(buffer) as fh, \
                local.conn.cursor() as cursor, cursor.copy(query, chunk_params) as copy:
            for block in copy:
                fh.write(block)
        return buffer.getvalue()

    try:
        with ThreadPoolExecutor(max_workers=REQUEST_STREAMS) as pool:
            pending: deque = deque()
            for chunk_params in params:
                pending.append(pool.submit(make, chunk_params))
                if len(pending) > REQUEST_STREAMS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        for conn in opened:
            conn.close()


def write_sessions(path: Path, scope: Scope, redactor: Redactor) -> None:
    query = f"""
        COPY (
          SELECT s.id, a.account_id, k.key_id, {_TS.format('s.started_at')}, {_TS.format('s.ended_at')},
                 s.request_count, s.input_tokens, s.output_tokens
          FROM session s JOIN account a ON a.id = s.account_id LEFT JOIN api_key k ON k.id = s.api_key_id
          WHERE s.account_id = ANY(%(ids)s)
          ORDER BY s.account_id, s.started_at, s.id
        ) TO STDOUT WITH (FORMAT csv)"""
    with _writer(path) as fh:
        _header(fh, ("session_id", "account_id", "api_key_id", "started_at", "ended_at", "requests",
                     "input_tokens", "output_tokens"))
        _copy(fh, query, _params(redactor, ids=scope.account_ids), work_mem=SORT_MEM)


def write_api_keys(path: Path, scope: Scope, redactor: Redactor) -> None:
    query = f"""
        COPY (
          SELECT k.key_id, a.account_id, {_TS.format('k.first_seen')}, {_TS.format('k.last_seen')},
                 coalesce(sum(s.request_count), 0), count(s.id)
          FROM api_key k JOIN account a ON a.id = k.account_id LEFT JOIN session s ON s.api_key_id = k.id
          WHERE k.account_id = ANY(%(ids)s)
          GROUP BY k.id, k.key_id, a.account_id ORDER BY k.key_id
        ) TO STDOUT WITH (FORMAT csv)"""
    with _writer(path) as fh:
        _header(fh, ("api_key_id", "account_id", "first_seen", "last_seen", "requests", "sessions"))
        _copy(fh, query, _params(redactor, ids=scope.account_ids), work_mem=SORT_MEM)


def write_timeline(path: Path, scope: Scope, redactor: Redactor) -> None:
    query = f"""
        COPY (
          SELECT {_TS.format('h.hour')}, m.value, cat.value, sum(h.requests), sum(h.input_tokens),
                 sum(h.output_tokens), sum(h.reasoning_requests), sum(h.error_requests), count(*)
          FROM account_hour h JOIN lookup_model m ON m.id = h.model_id JOIN lookup_category cat ON cat.id = h.category_id
          WHERE h.account_id IN (SELECT account_id FROM membership WHERE campaign_id = %(cid)s AND active)
          GROUP BY h.hour, m.value, cat.value ORDER BY h.hour, m.value, cat.value
        ) TO STDOUT WITH (FORMAT csv)"""
    with _writer(path) as fh:
        _header(fh, ("hour", "model", "category", "requests", "input_tokens", "output_tokens", "reasoning_requests",
                     "error_requests", "account_model_category_rows"))
        _copy(fh, query, _params(redactor, cid=scope.campaign_id))


@dataclass(frozen=True)
class HourRow:
    """One row of timeline_hourly.csv: the members' traffic in one hour, model and category."""

    hour: datetime
    model: str
    category: str
    requests: int
    input_tokens: int
    output_tokens: int
    reasoning_requests: int
    error_requests: int


def read_timeline(path: Path) -> list[HourRow]:
    """The rows ``write_timeline`` wrote (hours x models x categories: thousands, not millions)."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [HourRow(datetime.fromisoformat(hour), model, category, *map(int, counts[:5]))
                for hour, model, category, *counts in reader]


# Request-side infrastructure kinds: the request column grouped on, and how its value reads.
REQUEST_KINDS = {
    # kind: (grouped column, SQL of the value's text from the aggregated row, redaction label or None)
    "ip": ("r.ip", "host(g.ip)", "ip"),
    "asn": ("r.asn", "g.asn::text", None),
    "country": ("r.country_id", "c.value", None),
    "ip_type": ("r.ip_type", _IP_TYPE.format("g.ip_type"), None),
    "user_agent": ("r.user_agent_id", "ua.value", None),
    "client_fingerprint": ("r.client_fingerprint_id", "cf.value", None),
    "template_hash": ("r.template_id", "t.value", None),
}
# ip_network is derived from the per-account ip rows, not grouped from requests again.
_NETWORK = ("ip_network", None, "net")


GROUPED = "packet_grouped"  # temp table: the members' requests, one row per account, kind and raw value
_GROUPED_COLUMNS = [col.split(".")[1] for col, _, _ in REQUEST_KINDS.values()]


def _grouped_select() -> str:
    """One pass over the members' requests, grouped per account on the raw column of every kind
    at once (GROUPING SETS on integers and addresses); text is made later, only for the values
    written, not per request or per account (a proxy pool gives each account hundreds)."""
    columns = _GROUPED_COLUMNS
    sets = ", ".join(f"(r.account_id, r.{col})" for col in columns)
    flags = ", ".join(f"r.{col}" for col in columns)
    # GROUPING() has one bit per argument, set when that column is not grouped in the row's set.
    full = (1 << len(columns)) - 1
    kind_of = f"CASE GROUPING({flags}) " + " ".join(
        f"WHEN {full ^ (1 << (len(columns) - 1 - i))} THEN '{kind}'" for i, kind in enumerate(REQUEST_KINDS)) + " END"
    return f"""
        SELECT r.account_id, {flags}, {kind_of} AS kind, count(*) AS n, min(r.ts) AS first, max(r.ts) AS last
        FROM request r
        WHERE r.account_id IN (SELECT account_id FROM membership WHERE campaign_id = %(cid)s AND active)
          AND r.ts >= %(start)s AND r.ts <= %(end)s
        GROUP BY GROUPING SETS ({sets})"""


def _infrastructure_query(redactor: Redactor) -> str:
    """Per value of every kind, from the grouped table: how many members, how many requests."""
    columns = _GROUPED_COLUMNS
    texts = " ".join(f"WHEN '{kind}' THEN {expr}" for kind, (_, expr, _) in REQUEST_KINDS.items())
    labels = {kind: label for kind, (_, _, label) in REQUEST_KINDS.items()} | {_NETWORK[0]: _NETWORK[2]}
    shown = "v.value"
    if redactor.enabled:
        shown = "CASE v.kind " + " ".join(f"WHEN '{kind}' THEN '{label}:' || {sql_hmac('v.value')}"
                                          for kind, label in labels.items() if label) + " ELSE v.value END"
    raw = ", ".join(columns)
    return f"""
          WITH per_value AS (
            SELECT kind, {raw}, count(*) AS accounts, sum(n) AS requests, min(first) AS first, max(last) AS last
            FROM {GROUPED} GROUP BY kind, {raw}
          ), networks AS (
            SELECT account_id, network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 48 END)) AS net,
                   sum(n) AS n, min(first) AS first, max(last) AS last
            FROM {GROUPED} WHERE kind = 'ip' AND ip IS NOT NULL GROUP BY 1, 2
          ), v AS (
            SELECT g.kind, CASE g.kind {texts} END AS value, g.accounts, g.requests, g.first, g.last
            FROM per_value g
            LEFT JOIN lookup_country c ON g.kind = 'country' AND c.id = g.country_id
            LEFT JOIN lookup_user_agent ua ON g.kind = 'user_agent' AND ua.id = g.user_agent_id
            LEFT JOIN lookup_client_fingerprint cf ON g.kind = 'client_fingerprint' AND cf.id = g.client_fingerprint_id
            LEFT JOIN lookup_template t ON g.kind = 'template_hash' AND t.id = g.template_id
            UNION ALL
            SELECT '{_NETWORK[0]}', net::text, count(*), sum(n), min(first), max(last) FROM networks GROUP BY net
          )
          SELECT v.kind, {shown} AS shown, v.accounts, v.requests, {_TS.format('v.first')}, {_TS.format('v.last')}, NULL
          FROM v WHERE v.value IS NOT NULL ORDER BY v.kind, v.requests DESC, v.accounts DESC, shown"""


class MemberTraffic:
    """The members' requests grouped once per account and raw value of every kind, in a temp
    table on a connection of its own, and what is read from it.

    ``start`` groups and writes the request-side rows of infrastructure.csv in a thread, beside
    the account-side files and then the requests file, which need nothing from it (a core is
    never left waiting for the grouping); ``finish_infrastructure`` waits for it and adds the
    sign-up values. Use as a context manager: leaving it cancels a grouping still running and
    closes the connection, which drops the table.
    """

    def __init__(self, scope: Scope, redactor: Redactor) -> None:
        self.scope, self.redactor = scope, redactor
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._job = None
        self.conn = side_connection("copycat-packet-traffic")

    def __enter__(self) -> MemberTraffic:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and self._job is not None:
            # A cancel sent between two of the job's statements is lost, so send it until the job ends.
            while not self._job.done():
                self.conn.cancel()
                wait([self._job], timeout=0.2)
        self._pool.shutdown(wait=True)
        self.conn.close()

    def start(self, infra_path: Path) -> None:
        self._infra_path = infra_path
        self._job = self._pool.submit(self._group_and_write, infra_path)

    def _group_and_write(self, path: Path) -> None:
        scope = self.scope
        params = _params(self.redactor, cid=scope.campaign_id, start=scope.start, end=scope.end)
        with self.conn.cursor() as cur:
            # The per-account groups of a big campaign (millions) hash in memory.
            cur.execute("SET work_mem = '256MB'")
            # A campaign with no requests (start None) compares every ts with NULL: an empty table.
            cur.execute(f"CREATE TEMP TABLE {GROUPED} AS {_grouped_select()}", params)
            cur.execute(f"ANALYZE {GROUPED}")
        with _writer(path) as fh, self.conn.cursor() as cur:
            _header(fh, INFRA_COLUMNS)
            with cur.copy(f"COPY ({_infrastructure_query(self.redactor)}) TO STDOUT WITH (FORMAT csv)",
                          params) as copy:
                for block in copy:
                    fh.write(block)

    def finish_infrastructure(self) -> None:
        self._job.result()
        write_account_infrastructure(self._infra_path, self.scope, self.redactor)


def write_account_infrastructure(path: Path, scope: Scope, redactor: Redactor) -> None:
    """Append the account-side values (payment, device, sign-up address) to infrastructure.csv.

    Request-side values come from ``MemberTraffic`` (one row per account and value first, so
    counting accounts needs no DISTINCT sort); account-side values also say how many accounts
    anywhere carry them: rarity is the point.
    """
    with open(path, "a", encoding="utf-8", newline="") as text:
        writer = csv.writer(text, lineterminator="\n")
        for row in account_infrastructure(scope, redactor):
            writer.writerow(row)


INFRA_COLUMNS = ("kind", "value", "member_accounts", "requests", "first_seen", "last_seen", "accounts_anywhere")
ACCOUNT_KINDS = ("payment_fingerprint", "device_fingerprint", "signup_ip", "signup_network", "signup_asn",
                 "email_domain")


def account_infrastructure(scope: Scope, redactor: Redactor) -> list[tuple]:
    """Sign-up and billing values the members share (members are thousands, not millions)."""
    members = Account.objects.filter(pk__in=scope.account_ids)
    rows: list[tuple] = []
    for field, kind in (("payment_fingerprint", "payment_fingerprint"), ("device_fingerprint", "device_fingerprint"),
                        ("signup_asn", "signup_asn")):
        counts = members.exclude(**{f"{field}__isnull": True}).values(field).annotate(n=Count("id"))
        anywhere = dict(Account.objects.filter(**{f"{field}__in": [c[field] for c in counts]})
                        .values(field).annotate(n=Count("id")).values_list(field, "n"))
        rows += [(kind, str(c[field]), c["n"], "", "", "", anywhere.get(c[field], c["n"])) for c in counts]
    ips: dict[str, int] = {}
    nets: dict[str, int] = {}
    domains: dict[str, int] = {}
    for signup_ip, email in members.values_list("signup_ip", "email").iterator(chunk_size=5000):
        if signup_ip:
            ips[redactor.ip(signup_ip)] = ips.get(redactor.ip(signup_ip), 0) + 1
            nets[redactor.network(signup_ip)] = nets.get(redactor.network(signup_ip), 0) + 1
        if email:
            dom = redactor.email_domain(email)
            domains[dom] = domains.get(dom, 0) + 1
    for kind, counts in (("signup_ip", ips), ("signup_network", nets), ("email_domain", domains)):
        rows += [(kind, value, n, "", "", "", "") for value, n in counts.items()]
    return sorted(rows, key=lambda r: (r[0], -int(r[2]), r[1]))


def write_members(path: Path, scope: Scope, redactor: Redactor) -> None:
    """Every membership, past ones too (``active`` false, who removed it and why)."""
    columns = ("account_id", "active", "source", "confidence", "added_by", "added_at", "reason", "removed_by",
               "removed_at", "removed_reason", "org_id", "created_at", "email", "email_domain", "signup_ip",
               "signup_network", "signup_country", "signup_asn", "billing_country", "payment_fingerprint",
               "payment_method", "phone_verified", "device_fingerprint", "signup_channel", "plan", "status",
               "first_request_at", "last_request_at", "request_count")
    rows = (Membership.objects.filter(campaign_id=scope.campaign_id)
            .select_related("account", "account__org", "added_by", "removed_by").order_by("account__account_id"))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for m in rows.iterator(chunk_size=2000):
            a = m.account
            writer.writerow([
                a.account_id, m.active, m.source, f"{m.confidence:.4f}", _user(m.added_by), _iso(m.added_at),
                redactor.scrub(m.reason), _user(m.removed_by), _iso(m.removed_at), redactor.scrub(m.removed_reason),
                a.org.value if a.org else "", _iso(a.created_at), redactor.email(a.email),
                redactor.email_domain(a.email), redactor.ip(a.signup_ip), redactor.network(a.signup_ip),
                a.signup_country or "", a.signup_asn or "", a.billing_country or "", a.payment_fingerprint or "",
                a.payment_method or "", "" if a.phone_verified is None else a.phone_verified,
                a.device_fingerprint or "", a.signup_channel or "", a.plan or "", a.status or "",
                _iso(a.first_request_at), _iso(a.last_request_at), a.request_count,
            ])


def _prompt_query(redactor: Redactor) -> str:
    excerpt = _redacted_sql(redactor, "e.excerpt", "text")
    if redactor.enabled:
        excerpt = f"{excerpt} || ' (' || length(e.excerpt) || ' chars)'"
    # Excerpts are a small sample: start from them and find each request through request_key
    # (primary key) and the request table's (account_id, ts) index. The CTE holds that order
    # even when a new campaign's memberships are not analyzed yet: estimating one member, the
    # planner walked all the members' requests instead (9 s for 390 accounts at 1/16 of seed).
    return f"""
        WITH e AS MATERIALIZED (
          SELECT e.request_id, e.excerpt, k.account_id, k.ts
          FROM request_excerpt e JOIN request_key k ON k.request_id = e.request_id
          WHERE k.account_id IN (SELECT account_id FROM membership WHERE campaign_id = %(cid)s AND active)
        )
        SELECT e.request_id, {_TS.format('e.ts')}, a.account_id, cat.value, t.value, r.reasoning_requested, {excerpt}
        FROM e
        JOIN request r ON r.account_id = e.account_id AND r.ts = e.ts AND r.request_id = e.request_id
        JOIN account a ON a.id = e.account_id
        LEFT JOIN lookup_category cat ON cat.id = r.category_id
        LEFT JOIN lookup_template t ON t.id = r.template_id
        ORDER BY e.ts, e.request_id"""


def prompt_samples(path: Path, limit: int = 20) -> list[tuple]:
    """The first ``limit`` rows of the prompt excerpts file ``write_prompts`` wrote (its order is
    the report's: by time), read back instead of joining the excerpts to requests again."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [tuple(row) for row in itertools.islice(reader, limit)]


PROMPT_COLUMNS = ("request_id", "ts", "account_id", "category", "template_hash", "reasoning_requested", "excerpt")


def write_prompts(path: Path, scope: Scope, redactor: Redactor) -> None:
    with _writer(path) as fh:
        _header(fh, PROMPT_COLUMNS)
        _copy(fh, f"COPY ({_prompt_query(redactor)}) TO STDOUT WITH (FORMAT csv)",
              _params(redactor, cid=scope.campaign_id))


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else ""


def _user(user) -> str:
    return user.get_username() if user else ""
