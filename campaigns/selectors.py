"""Reads on campaigns: lists, members, timelines, shared infrastructure, candidates, blocklist.

One read path for the pages and the API. Timelines, heat map and capability mix come from the
``campaign_hour`` rollup (rebuilt by detection and on every membership change) and the
``traffic_hour`` baseline, never from requests. Infrastructure and candidates read the members'
own requests through the (account_id, ts) index in a bounded window (the last 7 days of the
campaign's activity unless asked otherwise) and are cached, keyed on the campaign's figures.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.functions import TruncDay

from accounts import selectors as account_selectors
from accounts.models import Account, AccountHour, ApiKey, Request, TrafficHour
from campaigns.errors import Conflict
from campaigns.models import (
    AuditEvent,
    Campaign,
    DetectionRun,
    EvidencePacket,
    Membership,
    Note,
    Signal,
)
from copycat.db import one_or_none

DEFAULT_WINDOW = timedelta(days=7)
BLOCKABLE_STATUSES = (Campaign.Status.CONFIRMED, Campaign.Status.MITIGATED)
TRAFFIC_KINDS = ("ip", "ip24", "asn", "client_fingerprint", "template")
INFRA_KINDS = (*account_selectors.SIGNUP_VALUE_KINDS, *TRAFFIC_KINDS)


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("assignee")


def campaign_detail(pk: int) -> Campaign | None:
    """The campaign with its assignee. Every campaign endpoint starts here: joining the two
    detection runs too parsed their JSON counts and timings on each call for two ids."""
    return one_or_none(Campaign.objects.select_related("assignee").filter(pk=pk))


def member_list(campaign: Campaign) -> QuerySet[Membership]:
    return (Membership.objects.filter(campaign=campaign)
            .select_related("account", "account__org", "added_by", "removed_by")
            .order_by("-active", "-confidence", "id"))


def member_ids(campaign: Campaign) -> QuerySet:
    """Primary keys of the active members (a subquery, not a list)."""
    return Membership.objects.filter(campaign=campaign, active=True).values("account_id")


def signal_list(campaign: Campaign) -> QuerySet[Signal]:
    return Signal.objects.filter(campaign=campaign).order_by("-weight", "id")


def note_list(campaign: Campaign) -> QuerySet[Note]:
    return Note.objects.filter(campaign=campaign).select_related("author").order_by("-created_at", "-id")


def detection_run_list() -> QuerySet[DetectionRun]:
    return DetectionRun.objects.select_related("requested_by").order_by("-id")


def packet_list() -> QuerySet[EvidencePacket]:
    return EvidencePacket.objects.select_related("campaign", "requested_by").order_by("-id")


def audit_list() -> QuerySet[AuditEvent]:
    # Newest first by id: the chain order, and the primary key index serves it.
    return AuditEvent.objects.order_by("-id")


def campaign_window(campaign: Campaign, since: datetime | None = None,
                    until: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """The window infrastructure reads use: as given, else the last 7 days of activity."""
    if since is None and until is None:
        if campaign.last_activity is None:
            return None, None
        until = campaign.last_activity + timedelta(seconds=1)
        return until - DEFAULT_WINDOW, until
    if until is None:
        until = (campaign.last_activity + timedelta(seconds=1)) if campaign.last_activity else since + DEFAULT_WINDOW
    if since is None:
        since = until - DEFAULT_WINDOW
    return since, until


# --- cache ----------------------------------------------------------------------------------

CACHE_SECONDS = 300


def _cached(campaign: Campaign, parts: tuple, compute):
    """``compute()``, cached under a key that changes with the campaign's membership figures
    (every link, unlink and detection run refreshes them), so a busy case page or API client does
    not rescan requests on every view. Because the key moves with the figures, an entry can live
    long (CAMPAIGN_CACHE_SECONDS); ``warm`` fills the default views after each change.
    ``created_at`` keeps keys apart across databases."""
    stamp = campaign.last_activity.timestamp() if campaign.last_activity else 0
    created = campaign.created_at.timestamp() if campaign.created_at else 0
    key = ":".join(str(p) for p in ("campaign", campaign.pk, created, campaign.member_count,
                                    campaign.request_count, stamp, *parts))
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, settings.CAMPAIGN_CACHE_SECONDS)
    return value


# --- timeline -------------------------------------------------------------------------------

def campaign_timeline(campaign: Campaign, *, bucket: str = "hour", by: str = "none",
                      since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Requests and tokens of the active members per hour or day, optionally by category or
    model: ``[{t, key, requests, input_tokens, output_tokens, reasoning_requests, error_requests}]``.

    Reads ``campaign_hour``, which detection and every membership change rebuild from
    ``account_hour`` (campaigns.services.refresh_figures), so the cost does not grow with the
    number of members, and cached like the other campaign reads (the key changes with the
    figures that same refresh writes). That rollup keeps no error counts: ``error_requests`` is None.
    """
    key, since, until = _timeline_key(campaign, bucket, by, since, until)
    return _cached(campaign, key, lambda: _timeline_points(campaign, bucket, by, since, until))


def campaign_timeline_json(campaign: Campaign, encode, *, bucket: str = "hour", by: str = "none",
                           since: datetime | None = None, until: datetime | None = None) -> bytes:
    """``encode(points)``, the API's JSON of ``campaign_timeline``'s points, cached beside them
    under the same key (so it moves with every membership change as they do): a campaign's
    hourly timeline is thousands of points, and serialising them was most of the call."""
    key, since, until = _timeline_key(campaign, bucket, by, since, until)
    return _cached(campaign, ("json", *key),
                   lambda: encode(campaign_timeline(campaign, bucket=bucket, by=by, since=since, until=until)))


def _timeline_key(campaign: Campaign, bucket: str, by: str, since: datetime | None,
                  until: datetime | None) -> tuple[tuple, datetime | None, datetime | None]:
    """The cache key of a timeline and its window (checked, defaulted)."""
    if bucket not in account_selectors.BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(account_selectors.BUCKETS)}")
    if by not in account_selectors.BREAKDOWNS:
        raise ValueError(f"by must be one of {', '.join(account_selectors.BREAKDOWNS)}")
    if bucket == "hour" and since is None and until is None and campaign.last_activity:
        # An hourly chart of the whole history is thousands of points nobody reads; default to
        # the last 7 days of activity, as the account timeline does.
        since = campaign.last_activity - DEFAULT_WINDOW
    return ("timeline", bucket, by, since and since.isoformat(), until and until.isoformat()), since, until


def _timeline_points(campaign: Campaign, bucket: str, by: str, since: datetime | None,
                     until: datetime | None) -> list[dict]:
    return account_selectors.rollup_points("campaign_hour", "campaign_id", campaign.pk, bucket=bucket, by=by,
                                           since=since, until=until, errors=False)


def campaign_geography(campaign: Campaign) -> dict:
    """How many sign-up countries, billing countries and sign-up ASNs the active members span."""
    return Account.objects.filter(id__in=member_ids(campaign)).aggregate(
        countries=Count("signup_country", distinct=True), billing=Count("billing_country", distinct=True),
        asns=Count("signup_asn", distinct=True))


def traffic_by_day(days: int = 60) -> tuple[list[tuple[datetime, int]], list[tuple[datetime, int]]]:
    """All traffic and campaign traffic (active members of campaigns not dismissed) per day, over
    the last ``days`` of data. Each account counts once however many campaigns hold it, so this
    reads ``account_hour`` for the members; cached, keyed on the latest hour and membership count."""
    latest = TrafficHour.objects.aggregate(m=Max("hour"))["m"]
    if latest is None:
        return [], []
    start = latest - timedelta(days=days)
    key = f"overview:traffic:{latest.isoformat()}:{Membership.objects.filter(active=True).count()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    day = TruncDay("hour")
    total = (TrafficHour.objects.filter(hour__gte=start).annotate(d=day).values("d").annotate(n=Sum("requests"))
             .order_by("d").values_list("d", "n"))
    open_members = (Membership.objects.filter(active=True).exclude(campaign__status=Campaign.Status.DISMISSED)
                    .values("account_id"))
    members = (AccountHour.objects.filter(hour__gte=start, account_id__in=open_members).annotate(d=day).values("d")
               .annotate(n=Sum("requests")).order_by("d").values_list("d", "n"))
    result = ([(d, int(n)) for d, n in total], [(d, int(n)) for d, n in members])
    cache.set(key, result, CACHE_SECONDS)
    return result


# --- infrastructure -------------------------------------------------------------------------


def _member_pks(campaign: Campaign) -> list[int]:
    return list(Membership.objects.filter(campaign=campaign, active=True).values_list("account_id", flat=True))


def _top_per_kind(rows: list[dict], kinds: tuple[str, ...], limit: int, min_accounts: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for row in rows:
        if row["accounts"] >= min_accounts and row["kind"] in out:
            out[row["kind"]].append({"value": row["value"], "accounts": row["accounts"],
                                     "requests": row.get("requests"), "total_accounts": row.get("total_accounts")})
    for kind, values in out.items():
        values.sort(key=lambda v: (-v["accounts"], -(v["requests"] or 0), v["value"]))
        out[kind] = values[:limit]
    return out


def shared_signup_values(campaign: Campaign, *, limit: int = 50, min_accounts: int = 1) -> dict[str, list[dict]]:
    """Sign-up values the active members carry (SIGNUP_VALUE_KINDS: payment and device fingerprints,
    sign-up IP and /24, ASN, e-mail domain), with how many members and accounts anywhere carry
    each; the ``limit`` carried by most members per kind. Account rows only: cheap; cached."""
    def compute():
        rows = account_selectors.account_attribute_values(_member_pks(campaign), account_selectors.SIGNUP_VALUE_KINDS)
        return _top_per_kind(rows, account_selectors.SIGNUP_VALUE_KINDS, limit, min_accounts)
    return _cached(campaign, ("signup", limit, min_accounts), compute)


def shared_traffic_values(campaign: Campaign, since: datetime | None, until: datetime | None, *, limit: int = 50,
                          min_accounts: int = 1) -> dict[str, list[dict]]:
    """Traffic values (IPs, /24s, ASNs, client fingerprints, templates) of the members' requests in
    [since, until), read through the (account_id, ts) index; cached per window."""
    if since is None or until is None:
        return {kind: [] for kind in TRAFFIC_KINDS}

    def compute():
        return _top_per_kind(_traffic_rows(campaign, since, until), TRAFFIC_KINDS, limit, min_accounts)
    return _cached(campaign, ("traffic", since.isoformat(), until.isoformat(), limit, min_accounts), compute)


def _traffic_rows(campaign: Campaign, since: datetime, until: datetime) -> list[dict]:
    """Every traffic value of the members' requests in the window, cached: the one scan of the
    members' requests that the infrastructure table and the candidates both start from."""
    return _cached(campaign, ("traffic-rows", since.isoformat(), until.isoformat()),
                   lambda: account_selectors.traffic_values(_member_pks(campaign), since, until))


def campaign_infrastructure(campaign: Campaign, *, since: datetime | None = None, until: datetime | None = None,
                            limit: int = 50, min_accounts: int = 1) -> dict:
    """Sign-up values (see shared_signup_values) and traffic values in the window (default the
    last 7 days of activity) the active members carry, with counts:
    ``{window: {since, until}, members, kinds: {kind: [{value, accounts, requests, total_accounts}]}}``."""
    since, until = campaign_window(campaign, since, until)
    kinds = {**shared_signup_values(campaign, limit=limit, min_accounts=min_accounts),
             **shared_traffic_values(campaign, since, until, limit=limit, min_accounts=min_accounts)}
    return {"window": {"since": since, "until": until}, "members": len(_member_pks(campaign)),
            "kinds": {kind: kinds.get(kind, []) for kind in INFRA_KINDS}}


# --- candidates -----------------------------------------------------------------------------


def candidate_accounts(campaign: Campaign, *, since: datetime | None = None, until: datetime | None = None,
                       limit: int = 50, probe_values: int = 40, include_removed: bool = False) -> list[dict]:
    """Accounts not linked to the campaign that share its rarest values; cached.

    The values at least two members share (sign-up values, and traffic values in the window)
    are probed, the ``probe_values`` carried by most members first; a value's weight is the
    share of its carriers that are members (a NAT used by 500 others weighs little). Accounts
    an analyst unlinked are left out (they were looked at and removed) unless ``include_removed``,
    which marks them ``removed``. Returns ``[{account, score, kinds, removed, shared: [{kind,
    value, requests, weight}]}]``, best first.
    """
    since, until = campaign_window(campaign, since, until)
    key = ("candidates", since and since.isoformat(), until and until.isoformat(), limit, probe_values,
           include_removed)
    return _cached(campaign, key, lambda: _candidates(campaign, since, until, limit, probe_values, include_removed))


def _candidates(campaign, since, until, limit, probe_values, include_removed) -> list[dict]:
    evidence = _cached(campaign, ("candidate-evidence", since and since.isoformat(), until and until.isoformat(),
                                  probe_values),
                       lambda: _candidate_evidence(campaign, since, until, probe_values))
    removed = set(Membership.objects.filter(campaign=campaign, active=False).values_list("account_id", flat=True))
    keep = (lambda row: True) if include_removed else (lambda row: row["account_pk"] not in removed)
    carriers, totals = evidence["carriers"], evidence["totals"]
    outside = [row for row in evidence["traffic_rows"] if keep(row)]
    for row in outside:
        key = (row["kind"], row["value"])
        totals[key] = totals.get(key, carriers.get(key, 0)) + 1
    found = [row for row in evidence["attribute_rows"] if keep(row)] + outside
    return _rank_candidates(found, carriers, totals, removed, limit)


def _candidate_evidence(campaign, since, until, probe_values) -> dict:
    """The expensive part of the candidates, shared by every limit and by both answers to
    include_removed: the non-members carrying the members' shared values, and how many
    members and accounts carry each value."""
    pks = _member_pks(campaign)
    evidence = {"attribute_rows": [], "traffic_rows": [], "carriers": {}, "totals": {}}
    if not pks:
        return evidence
    members = set(pks)
    attributes = [v for v in account_selectors.account_attribute_values(pks)
                  if v["accounts"] >= 2 and v["total_accounts"] <= account_selectors.COMMON_VALUE_ACCOUNTS]
    evidence["attribute_rows"] = account_selectors.accounts_sharing_attributes(attributes, exclude=members)
    evidence["carriers"] = {(v["kind"], v["value"]): v["accounts"] for v in attributes}
    evidence["totals"] = {(v["kind"], v["value"]): v["total_accounts"] for v in attributes}
    if since is not None and until is not None:
        traffic = [dict(v) for v in _traffic_rows(campaign, since, until)
                   if v["accounts"] >= 2 and v["kind"] in account_selectors.TRAFFIC_VALUE_KINDS]
        traffic.sort(key=lambda v: -v["accounts"])
        traffic = traffic[:probe_values]
        evidence["traffic_rows"] = account_selectors.accounts_sharing_traffic(traffic, since, until, exclude=members)
        for v in traffic:
            evidence["carriers"][(v["kind"], v["value"])] = v["accounts"]
    return evidence


def warm(campaign: Campaign) -> None:
    """Compute what the case page and the API's defaults read from requests (the shared traffic
    values and the candidates over the default window, the shared sign-up values), so the first
    analyst to open a campaign after detection or a membership change does not wait for the
    scan of its members' requests (seconds for thousands of members). Run by a Celery task."""
    since, until = campaign_window(campaign)
    shared_signup_values(campaign, limit=15, min_accounts=2)
    campaign_infrastructure(campaign)
    shared_traffic_values(campaign, since, until, limit=15, min_accounts=2)
    candidate_accounts(campaign)
    candidate_accounts(campaign, limit=25, include_removed=True)


def _rank_candidates(found, carriers, totals, removed, limit) -> list[dict]:
    by_account: dict[int, dict] = {}
    for row in found:
        key = (row["kind"], row["value"])
        total = max(totals.get(key, 1), carriers.get(key, 1))
        if total > account_selectors.COMMON_VALUE_ACCOUNTS:
            continue
        weight = round(carriers.get(key, 1) / total / math.log2(1 + total), 4)
        entry = by_account.setdefault(row["account_pk"], {"account_pk": row["account_pk"], "score": 0.0,
                                                          "shared": []})
        entry["score"] += weight
        entry["shared"].append({"kind": row["kind"], "value": row["value"], "requests": row["requests"],
                                "weight": weight})
    ranked = sorted(by_account.values(), key=lambda e: (-e["score"], e["account_pk"]))[:limit]
    accounts = Account.objects.select_related("org").in_bulk([e["account_pk"] for e in ranked])
    out = []
    for entry in ranked:
        entry["account"] = accounts.get(entry["account_pk"])
        entry["score"] = round(entry["score"], 4)
        entry["kinds"] = sorted({s["kind"] for s in entry["shared"]})
        entry["removed"] = entry["account_pk"] in removed
        if entry["account"] is not None:
            out.append(entry)
    return out


# --- raw requests ---------------------------------------------------------------------------


def campaign_requests(campaign: Campaign, since: datetime, until: datetime, *, cursor: str | None = None,
                      limit: int = 50) -> account_selectors.RequestPage:
    """The active members' requests in [since, until), newest first, keyset-paged like an
    account's (callers keep the window short: the window's blocks are read through the BRIN
    index on ts)."""
    # A subquery, not the member ids as a list: for a big campaign the planner then hashes the
    # members and reads the window's blocks once (6,250 members at 1/4 of seed: 21 ms, against
    # 48 ms for one index probe per member).
    members = Membership.objects.filter(campaign=campaign, active=True).values("account_id")
    qs = Request.objects.filter(account_id__in=members, ts__gte=since, ts__lt=until)
    return account_selectors.keyset_requests(qs, cursor=cursor, limit=limit)


# --- blocklist ------------------------------------------------------------------------------


def blocklist(campaign: Campaign, *, since: datetime | None = None, until: datetime | None = None) -> dict:
    """What enforcement blocks for a confirmed (or mitigated) campaign.

    Account ids, API key ids, payment and device fingerprints of the active members, and the
    IPs their requests came from in the window that no other account used there (a shared NAT
    or proxy exit is left out: blocking it would hit bystanders).
    """
    if campaign.status not in BLOCKABLE_STATUSES:
        raise Conflict(f"Campaign {campaign.pk} is {campaign.status}; a blocklist is only given for a "
                       "confirmed or mitigated campaign (a lead confirms it first).")
    pks = _member_pks(campaign)
    members = Account.objects.filter(pk__in=pks)
    ips: list[str] = []
    since, until = campaign_window(campaign, since, until)
    if pks and since is not None and until is not None:
        seen = [v for v in account_selectors.traffic_values(pks, since, until) if v["kind"] == "ip"]
        shared = {r["value"] for r in account_selectors.accounts_sharing_traffic(seen, since, until,
                                                                                  exclude=set(pks))}
        ips = sorted(v["value"] for v in seen if v["value"] not in shared)
    return {
        "campaign": campaign.pk,
        "status": campaign.status,
        "window": {"since": since, "until": until},
        "account_ids": sorted(members.values_list("account_id", flat=True)),
        "api_key_ids": sorted(ApiKey.objects.filter(account_id__in=pks).values_list("key_id", flat=True)),
        "payment_fingerprints": sorted(set(members.exclude(payment_fingerprint__isnull=True)
                                           .values_list("payment_fingerprint", flat=True))),
        "device_fingerprints": sorted(set(members.exclude(device_fingerprint__isnull=True)
                                          .values_list("device_fingerprint", flat=True))),
        "ips": ips,
    }
