"""Reads on accounts and their traffic, written for a request table of tens of millions of rows.

- Timelines read the ``account_hour`` rollup, never requests.
- An account's requests are walked by keyset on ``(ts, request_id)`` through the
  ``(account_id, ts)`` index: cost depends on the page size, not on how deep the page is.
- Pivots through shared traffic values find the carriers by index, never by scanning everyone's
  requests: IPs and /24s through the request table's ip index, templates and client
  fingerprints through the ``account_traffic_value`` rollup; the carriers' requests in the
  window are then counted through the ``(account_id, ts)`` index.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils.dateparse import parse_datetime

from accounts.models import Account, AccountTrafficValue, ApiKey, Category, ModelName, Request, Session, TrafficHour
from copycat.db import one_or_none

BUCKETS = ("hour", "day")
BREAKDOWNS = ("none", "category", "model")
NEIGHBOUR_WINDOW = timedelta(days=7)
# A proxy-pool account sends from hundreds of addresses a week; probing each for sharers took
# seconds (857 IPs, 515 /24s: 9 s on the demo world). Its most used ones find the same ring.
NEIGHBOUR_PROBES = 25
# A value carried by more accounts than this says little (campus NAT, cloud egress, popular
# SDK); pivots skip it rather than return thousands of unrelated accounts.
COMMON_VALUE_ACCOUNTS = 200
IP_SAMPLE = 5000


class InvalidCursor(ValueError):
    """The cursor given was not made by this API (or was changed)."""


def account_list() -> QuerySet[Account]:
    """Accounts with what a list row shows (one query: the org comes in a join)."""
    return Account.objects.select_related("org").order_by("-request_count", "-id")


def get_account(account_id: str) -> Account | None:
    return one_or_none(Account.objects.select_related("org").filter(account_id=account_id))


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("account").order_by("-id")


def session_list() -> QuerySet[Session]:
    return Session.objects.select_related("account", "api_key").order_by("-id")


# --- timelines ------------------------------------------------------------------------------


# The rollup tables' timeline: epoch seconds and lookup ids come back as plain integers (the
# sums cast from numeric), so no per-row Decimal or time-zone conversion in Python; each
# distinct hour and lookup name is made once. A quarter of the ORM version's time.
_ROLLUP_SQL = """
    SELECT extract(epoch FROM {t})::bigint, {key}, sum(requests)::bigint, sum(input_tokens)::bigint,
           sum(output_tokens)::bigint, sum(reasoning_requests)::bigint, {errors}
    FROM {table} WHERE {owner} = %s AND hour >= %s AND hour < %s
    GROUP BY 1, 2
"""
_ROLLUP_KEYS = {"none": ("NULL::integer", None), "category": ("category_id", Category),
                "model": ("model_id", ModelName)}
_EVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


def rollup_points(table: str, owner: str, owner_id: int, *, bucket: str = "hour", by: str = "none",
                  since: datetime | None = None, until: datetime | None = None,
                  errors: bool = True) -> list[dict]:
    """Sum an hourly rollup table (``account_hour``, ``campaign_hour``) of one owner per bucket,
    and category or model: ``[{t, key, requests, input_tokens, output_tokens, reasoning_requests,
    error_requests}]`` ordered by time, then key. Without ``errors`` (a rollup that keeps no
    error counts), ``error_requests`` is None."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    if by not in BREAKDOWNS:
        raise ValueError(f"by must be one of {', '.join(BREAKDOWNS)}")
    column, lookup = _ROLLUP_KEYS[by]
    sql = _ROLLUP_SQL.format(t="hour" if bucket == "hour" else "date_trunc('day', hour, 'UTC')", key=column,
                             errors="sum(error_requests)::bigint" if errors else "NULL::bigint", table=table,
                             owner=owner)
    with connection.cursor() as cursor:
        cursor.execute(sql, [owner_id, since or _EVER[0], until or _EVER[1]])
        rows = cursor.fetchall()
    names = dict(lookup.objects.filter(id__in={r[1] for r in rows}).values_list("id", "value")) if lookup else {}
    hours = {e: datetime.fromtimestamp(e, UTC) for e in {r[0] for r in rows}}
    points = [{"t": hours[t], "key": names.get(key, str(key)) if lookup else None, "requests": n,
               "input_tokens": tin, "output_tokens": tout, "reasoning_requests": reasoning, "error_requests": err}
              for t, key, n, tin, tout, reasoning, err in rows]
    points.sort(key=lambda p: (p["t"], p["key"] or ""))
    return points


def account_timeline(account: Account, *, bucket: str = "hour", by: str = "none", since: datetime | None = None,
                     until: datetime | None = None) -> list[dict]:
    """The account's traffic per hour or day from the ``account_hour`` rollup.

    With no window, the last 7 days of the account's activity (a page's first view).
    """
    if since is None and until is None and account.last_request_at:
        since = account.last_request_at - NEIGHBOUR_WINDOW
    return rollup_points("account_hour", "account_id", account.pk, bucket=bucket, by=by, since=since, until=until)


# --- requests (keyset) ----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestPage:
    rows: list[Request] | list[dict]
    next_cursor: str | None


def encode_cursor(ts: datetime, request_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{request_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, request_id = text.split("|", 1)
        ts = parse_datetime(ts_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("the cursor is not valid; use the `next` link of the previous page") from None
    if ts is None or ts.tzinfo is None or not request_id or "\x00" in request_id:
        raise InvalidCursor("the cursor is not valid; use the `next` link of the previous page")
    return ts, request_id


# The request's id columns shown by value: (foreign key, column of the related row).
REQUEST_LOOKUPS = (("api_key", "key_id"), ("model", "value"), ("category", "value"), ("country", "value"),
                   ("user_agent", "value"), ("client_fingerprint", "value"), ("template", "value"))


@functools.cache
def _lookup_columns() -> str:
    """``<fk>_value`` columns over request rows ``r``, one scalar subquery per lookup. Joining the
    seven tables instead (select_related) cost PostgreSQL 11 ms of join-order planning for a
    1 ms page; and written once here, not as ORM annotations, they cost no query building per
    call (the ORM took longer to compile the seven subqueries than PostgreSQL took to run them)."""
    parts = []
    for fk, column in REQUEST_LOOKUPS:
        table = Request._meta.get_field(fk).related_model._meta.db_table
        parts.append(f'(SELECT l."{column}" FROM "{table}" l WHERE l.id = r."{fk}_id") AS "{fk}_value"')
    return ", ".join(parts)


def keyset_requests(qs: QuerySet[Request], *, cursor: str | None = None, limit: int = 100,
                    plain: bool = False) -> RequestPage:
    """One page of ``qs``, newest first, keyset-paginated on (ts, request_id), each row with its
    lookup values as ``<fk>_value`` attributes; with ``plain``, rows are dicts of the columns
    (what an API page serializes: building a hundred model instances was a quarter of it).

    ``ts <= cursor_ts`` is stated on its own so the (account_id, ts) index bounds the scan;
    the row comparison then settles ties on ``ts``. Never OFFSET: page 10,000 costs what page 1
    costs. The lookup values are read for the page's rows only, in an outer query.
    """
    if cursor:
        ts, request_id = decode_cursor(cursor)
        qs = qs.filter(ts__lte=ts).filter(Q(ts__lt=ts) | Q(request_id__lt=request_id))
    try:
        sql, params = qs.order_by("-ts", "-request_id")[: limit + 1].query.sql_with_params()
    except EmptyResultSet:  # .none() or `__in` an empty list: the ORM would have answered [] too
        return RequestPage([], None)
    sql = f"SELECT r.*, {_lookup_columns()} FROM ({sql}) r ORDER BY r.ts DESC, r.request_id DESC"
    if plain:
        with connection.cursor() as db:
            db.execute(sql, params)
            names = [column.name for column in db.description]
            rows = [dict(zip(names, row, strict=True)) for row in db.fetchall()]
    else:
        rows = list(Request.objects.raw(sql, params))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        ts, request_id = (last["ts"], last["request_id"]) if plain else (last.ts, last.request_id)
        next_cursor = encode_cursor(ts, request_id)
    return RequestPage(rows, next_cursor)


def account_requests(account: Account, *, requests: QuerySet[Request] | None = None, cursor: str | None = None,
                     limit: int = 100, plain: bool = False) -> RequestPage:
    """One page of the account's requests (``requests`` narrows them, e.g. a filterset's qs)."""
    qs = requests if requests is not None else Request.objects.all()
    return keyset_requests(qs.filter(account_id=account.pk), cursor=cursor, limit=limit, plain=plain)


def request_rows(rows: list[Request], *, revealed: bool) -> list[dict]:
    """Rows of a request page as the pages show them (lookup values came with
    ``keyset_requests``); IPs and prompt excerpts masked unless ``revealed``. Two queries:
    excerpts, account ids."""
    from accounts.masking import mask_ip
    from accounts.models import IP_TYPES, RequestExcerpt

    excerpts = dict(RequestExcerpt.objects.filter(request_id__in=[r.request_id for r in rows])
                    .values_list("request_id", "excerpt")) if rows else {}
    accounts = dict(Account.objects.filter(id__in={r.account_id for r in rows})
                    .values_list("id", "account_id")) if rows else {}

    out = []
    for r in rows:
        excerpt = excerpts.get(r.request_id)
        out.append({
            "request_id": r.request_id, "ts": r.ts, "account_pk": r.account_id,
            "account_id": accounts.get(r.account_id, "?"), "model": r.model_value or "",
            "category": r.category_value or "", "country": r.country_value or "", "asn": r.asn,
            "ip_type": IP_TYPES[r.ip_type] if r.ip_type is not None and 0 <= r.ip_type < len(IP_TYPES) else "",
            "ip": mask_ip(r.ip, revealed), "status_code": r.status_code, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "template": r.template_value or "",
            "client": r.client_fingerprint_value or "",
            "reasoning": r.reasoning_requested,
            "excerpt": (excerpt if revealed else f"(hidden, {len(excerpt)} characters)") if excerpt else "",
        })
    return out


def traffic_by_category(since: datetime, until: datetime) -> dict[str, int]:
    """All traffic's requests per category in [since, until), from the small ``traffic_hour`` rollup."""
    rows = (TrafficHour.objects.filter(hour__gte=since, hour__lt=until).values("category__value")
            .annotate(n=Sum("requests")).values_list("category__value", "n"))
    return {(value or "(none)"): int(n) for value, n in rows}


def account_ips(account: Account, *, limit: int = 20) -> list[dict]:
    """IPs of the account's latest IP_SAMPLE requests with counts (walks the (account_id, ts)
    index; counted in SQL so only ``limit`` rows come back)."""
    rows = _sql("SELECT host(ip), count(*) FROM (SELECT ip FROM request WHERE account_id = %s "
                "ORDER BY ts DESC LIMIT %s) s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s", [account.pk, IP_SAMPLE, limit])
    return [{"ip": ip, "requests": n} for ip, n in rows]


# --- neighbours -----------------------------------------------------------------------------

ACCOUNT_VALUE_KINDS = ("payment_fingerprint", "device_fingerprint", "signup_ip")
TRAFFIC_VALUE_KINDS = ("ip", "ip24", "template", "client_fingerprint")

_TRAFFIC_VALUES_SQL = """
    SELECT kind, value, count(DISTINCT account_id) AS accounts, count(*) AS requests
    FROM (
        SELECT r.account_id, v.kind, v.value
        FROM request r
        CROSS JOIN LATERAL (VALUES
            ('ip', host(r.ip)),
            ('ip24', CASE WHEN family(r.ip) = 4 THEN host(network(set_masklen(r.ip, 24))) || '/24' END),
            ('asn', r.asn::text),
            ('client_fingerprint', r.client_fingerprint_id::text),
            ('template', r.template_id::text)
        ) AS v(kind, value)
        WHERE r.account_id = ANY(%s) AND r.ts >= %s AND r.ts < %s AND v.value IS NOT NULL
    ) s
    GROUP BY kind, value
"""


def traffic_values(account_ids: list[int], since: datetime, until: datetime) -> list[dict]:
    """Per (kind, value) carried by these accounts' requests in the window: accounts, requests.

    Reads only the accounts' own requests through the (account_id, ts) index. Lookup ids
    (templates, client fingerprints) are turned into their values afterwards in one query each.
    """
    if not account_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_TRAFFIC_VALUES_SQL, [list(account_ids), since, until])
        rows = [{"kind": k, "value": v, "accounts": a, "requests": r} for k, v, a, r in cursor.fetchall()]
    return _resolve_lookups(rows)


def _resolve_lookups(rows: list[dict]) -> list[dict]:
    from accounts.models import ClientFingerprint, PromptTemplate

    for kind, model in (("template", PromptTemplate), ("client_fingerprint", ClientFingerprint)):
        ids = {int(r["value"]) for r in rows if r["kind"] == kind}
        names = dict(model.objects.filter(id__in=ids).values_list("id", "value")) if ids else {}
        for r in rows:
            if r["kind"] == kind:
                r["lookup_id"] = int(r["value"])
                r["value"] = names.get(int(r["value"]), r["value"])
    return rows


def _any_subnet(nets: list) -> tuple[str, list]:
    # One "<<" per /24: with constants the planner turns each into a range scan of the ip
    # index; "<< ANY(array)" would not use it.
    return "(" + " OR ".join(["r.ip << %s::cidr"] * len(nets)) + ")", list(nets)


_SHARER_SQL = {
    "ip": ("host(r.ip)", lambda raw: ("r.ip = ANY(%s::inet[])", [raw])),
    "ip24": ("host(network(set_masklen(r.ip, 24))) || '/24'", _any_subnet),
}
# Kinds found through the rollup: (its kind, the request column the values are ids of).
_ROLLED_UP = {
    "template": (AccountTrafficValue.Kind.TEMPLATE, "template_id"),
    "client_fingerprint": (AccountTrafficValue.Kind.CLIENT_FINGERPRINT, "client_fingerprint_id"),
}


def accounts_sharing_traffic(values: list[dict], since: datetime, until: datetime,
                             exclude: set[int] = frozenset(), max_accounts: int | None = None) -> list[dict]:
    """Accounts whose requests in the window carry any of ``values`` ({kind, value, lookup_id?}),
    with how many such requests: ``[{kind, value, account_pk, requests}]``. One query per kind
    present (two for templates and client fingerprints).

    ``max_accounts`` skips a template or client fingerprint that more accounts than that used
    at some point of the window (first to last use overlapping it) as too common to pivot on,
    before any of their requests are read.
    """
    found = []
    for kind in ("ip", "ip24", "client_fingerprint", "template"):
        pick = [v for v in values if v["kind"] == kind]
        if not pick:
            continue
        display = {str(v.get("lookup_id", v["value"])): v["value"] for v in pick}
        if kind in _ROLLED_UP:
            rows = _rolled_up_sharers(kind, [int(v["lookup_id"]) for v in pick], since, until, exclude, max_accounts)
        else:
            expr, condition = _SHARER_SQL[kind]
            cond, cond_params = condition([v["value"] for v in pick])
            rows = _sql(f"SELECT {expr} AS value, r.account_id, count(*) FROM request r "
                        f"WHERE r.ts >= %s AND r.ts < %s AND {cond} GROUP BY 1, 2", [since, until, *cond_params])
        found += [{"kind": kind, "value": display.get(str(val), val), "account_pk": a, "requests": n}
                  for val, a, n in rows if a not in exclude]
    return found


def _rolled_up_sharers(kind: str, ids: list[int], since: datetime, until: datetime, exclude: set[int],
                       max_accounts: int | None) -> list[tuple]:
    """(value id, account, requests in the window) of the accounts that sent these lookup ids."""
    rollup_kind, column = _ROLLED_UP[kind]
    carriers = _sql("SELECT value, account_id FROM account_traffic_value WHERE kind = %s AND value = ANY(%s) "
                    "AND first_seen < %s AND last_seen >= %s", [rollup_kind, ids, until, since])
    per_value: dict[int, set[int]] = {}
    for value, account in carriers:
        per_value.setdefault(value, set()).add(account)
    if max_accounts is not None:
        per_value = {v: accounts for v, accounts in per_value.items() if len(accounts) <= max_accounts}
    wanted = {(v, a) for v, accounts in per_value.items() for a in accounts if a not in exclude}
    if not wanted:
        return []
    rows = _sql(f"SELECT r.{column}, r.account_id, count(*) FROM request r "
                f"WHERE r.account_id = ANY(%s) AND r.ts >= %s AND r.ts < %s AND r.{column} = ANY(%s) GROUP BY 1, 2",
                [sorted({a for _, a in wanted}), since, until, sorted(per_value)])
    # An account kept for one value may also carry another that was skipped as common.
    return [row for row in rows if (row[0], row[1]) in wanted]


# Sign-up values, as SQL over ``account a``. The first three are probed for sharers (candidates,
# neighbours); the rest are only counted (an ASN or e-mail domain is shared by too many to pivot on,
# and every factory or demo account of a /24 would look related).
SIGNUP_VALUE_SQL = {
    "payment_fingerprint": "a.payment_fingerprint",
    "device_fingerprint": "a.device_fingerprint",
    "signup_ip": "host(a.signup_ip)",
    "signup_ip24": "CASE WHEN family(a.signup_ip) = 4 THEN host(network(set_masklen(a.signup_ip, 24))) || '/24' END",
    "signup_asn": "a.signup_asn::text",
    "email_domain": "lower(nullif(split_part(a.email, '@', 2), ''))",
}
SIGNUP_VALUE_KINDS = tuple(SIGNUP_VALUE_SQL)


def _sql(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def accounts_sharing_attributes(values: list[dict], exclude: set[int] = frozenset()) -> list[dict]:
    """Accounts whose sign-up record carries any of ``values`` ({kind, value}); payment and device
    fingerprints go through their indexes."""
    found = []
    for kind in ACCOUNT_VALUE_KINDS:
        wanted = [v["value"] for v in values if v["kind"] == kind]
        if not wanted:
            continue
        expr = SIGNUP_VALUE_SQL[kind]
        for pk, value in _sql(f"SELECT a.id, {expr} FROM account a WHERE {expr} = ANY(%s)", [wanted]):
            if pk not in exclude:
                found.append({"kind": kind, "value": value, "account_pk": pk, "requests": None})
    return found


def account_attribute_values(account_ids: list[int], kinds: tuple[str, ...] = ACCOUNT_VALUE_KINDS) -> list[dict]:
    """Sign-up values these accounts carry (``kinds`` of SIGNUP_VALUE_SQL), with how many of
    them carry each and how many accounts anywhere do: ``[{kind, value, accounts, total_accounts}]``."""
    rows = []
    for kind in kinds:
        expr = SIGNUP_VALUE_SQL[kind]
        counts = dict(_sql(f"SELECT {expr}, count(*) FROM account a WHERE a.id = ANY(%s) AND {expr} IS NOT NULL "
                           "GROUP BY 1", [list(account_ids)]))
        if not counts:
            continue
        totals = dict(_sql(f"SELECT {expr}, count(*) FROM account a WHERE {expr} = ANY(%s) GROUP BY 1", [list(counts)]))
        rows += [{"kind": kind, "value": v, "accounts": n, "total_accounts": totals.get(v, n)}
                 for v, n in counts.items()]
    return rows


def _group_by_account(found: list[dict], limit: int) -> list[dict]:
    by_account: dict[int, dict] = {}
    for row in found:
        entry = by_account.setdefault(row["account_pk"], {"account_pk": row["account_pk"], "shared": []})
        entry["shared"].append({"kind": row["kind"], "value": row["value"], "requests": row["requests"]})
    ranked = sorted(by_account.values(), key=lambda e: (-len(e["shared"]), e["account_pk"]))[:limit]
    accounts = Account.objects.select_related("org").in_bulk([e["account_pk"] for e in ranked])
    for entry in ranked:
        entry["account"] = accounts.get(entry["account_pk"])
    return [e for e in ranked if e["account"] is not None]


def _most_used(values: list[dict], per_kind: int) -> list[dict]:
    """The ``per_kind`` values of each kind the account sent most requests with."""
    kept: dict[str, list[dict]] = {}
    for v in sorted(values, key=lambda v: (-v["requests"], str(v["value"]))):
        bucket = kept.setdefault(v["kind"], [])
        if len(bucket) < per_kind:
            bucket.append(v)
    return [v for bucket in kept.values() for v in bucket]


def account_neighbours(account: Account, *, limit: int = 50, window: timedelta = NEIGHBOUR_WINDOW) -> list[dict]:
    """Other accounts sharing a payment or device fingerprint, sign-up IP, or (in the last
    ``window`` of this account's activity) a request IP, /24, template or client fingerprint.

    Values carried by more than COMMON_VALUE_ACCOUNTS accounts are skipped as uninformative;
    of the traffic values, the NEIGHBOUR_PROBES most used per kind are probed.
    Returns ``[{account, shared: [{kind, value, requests}]}]``, most shared values first.
    """
    values = [v for v in account_attribute_values([account.pk]) if v["total_accounts"] <= COMMON_VALUE_ACCOUNTS]
    found = accounts_sharing_attributes(values, exclude={account.pk})
    if account.last_request_at:
        until = account.last_request_at + timedelta(seconds=1)
        since = until - window
        mine = [v for v in traffic_values([account.pk], since, until) if v["kind"] in TRAFFIC_VALUE_KINDS]
        found += accounts_sharing_traffic(_most_used(mine, NEIGHBOUR_PROBES), since, until, exclude={account.pk},
                                          max_accounts=COMMON_VALUE_ACCOUNTS)
    # Drop traffic values that turned out common (shared by too many accounts).
    per_value: dict[tuple, int] = {}
    for row in found:
        per_value[(row["kind"], row["value"])] = per_value.get((row["kind"], row["value"]), 0) + 1
    found = [r for r in found if per_value[(r["kind"], r["value"])] <= COMMON_VALUE_ACCOUNTS]
    return _group_by_account(found, limit)
