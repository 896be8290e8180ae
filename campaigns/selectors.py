"""Reads on campaigns: lists, members, timelines, shared infrastructure, candidates, blocklist.

Timelines come from rollups (``CampaignHour`` when detection provides it, else ``account_hour``
summed over the active members through its (account, hour, ...) primary key). Infrastructure
reads the members' own requests through the (account_id, ts) index, in a bounded window (the
last 7 days of the campaign's activity unless asked otherwise).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import QuerySet

from accounts import selectors as account_selectors
from accounts.models import Account, AccountHour, ApiKey
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

DEFAULT_WINDOW = timedelta(days=7)
BLOCKABLE_STATUSES = (Campaign.Status.CONFIRMED, Campaign.Status.MITIGATED)
INFRA_KINDS = ("payment_fingerprint", "device_fingerprint", "signup_ip", "ip", "ip24", "asn",
               "client_fingerprint", "template")


def campaign_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("assignee")


def campaign_detail(pk: int) -> Campaign | None:
    return Campaign.objects.select_related("assignee", "created_by_run", "last_run").filter(pk=pk).first()


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


# --- timeline -------------------------------------------------------------------------------


def _campaign_hour_model():
    """Detection's CampaignHour rollup, once it exists and has the rollup's shape."""
    try:
        model = apps.get_model("campaigns", "CampaignHour")
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    needed = {"campaign", "hour", "model", "category", "requests", "input_tokens", "output_tokens",
              "reasoning_requests", "error_requests"}
    return model if needed <= names else None


def campaign_timeline(campaign: Campaign, *, bucket: str = "hour", by: str = "none",
                      since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Requests and tokens of the active members per hour or day, optionally by category or
    model: ``[{t, key, requests, input_tokens, output_tokens, reasoning_requests, error_requests}]``."""
    if bucket == "hour" and since is None and until is None and campaign.last_activity:
        # An hourly chart of the whole history is thousands of points nobody reads; default to
        # the last 7 days of activity, as the account timeline does.
        since = campaign.last_activity - DEFAULT_WINDOW
    rollup = _campaign_hour_model()
    if rollup is not None:
        hours = rollup.objects.filter(campaign=campaign)
    else:
        hours = AccountHour.objects.filter(account_id__in=member_ids(campaign))
    if since is not None:
        hours = hours.filter(hour__gte=since)
    if until is not None:
        hours = hours.filter(hour__lt=until)
    return account_selectors.timeline_rows(hours, bucket=bucket, by=by)


# --- infrastructure -------------------------------------------------------------------------


def _member_pks(campaign: Campaign) -> list[int]:
    return list(Membership.objects.filter(campaign=campaign, active=True).values_list("account_id", flat=True))


def campaign_infrastructure(campaign: Campaign, *, since: datetime | None = None, until: datetime | None = None,
                            limit: int = 50, min_accounts: int = 1) -> dict:
    """Values the active members carry, with how many members carry each and their requests.

    Sign-up values (payment and device fingerprints, sign-up IP) come from the account rows, with
    how many accounts anywhere carry them; traffic values (IPs, /24s, ASNs, client fingerprints,
    templates) from the members' requests in the window. Per kind, the ``limit`` values carried
    by most members. Returns ``{window: {since, until}, kinds: {kind: [{value, accounts, ...}]}}``.
    """
    pks = _member_pks(campaign)
    since, until = campaign_window(campaign, since, until)
    rows = account_selectors.account_attribute_values(pks)
    if since is not None and until is not None:
        rows += account_selectors.traffic_values(pks, since, until)
    kinds: dict[str, list[dict]] = {kind: [] for kind in INFRA_KINDS}
    for row in rows:
        if row["accounts"] >= min_accounts and row["kind"] in kinds:
            kinds[row["kind"]].append({"value": row["value"], "accounts": row["accounts"],
                                       "requests": row.get("requests"),
                                       "total_accounts": row.get("total_accounts")})
    for kind, values in kinds.items():
        values.sort(key=lambda v: (-v["accounts"], -(v["requests"] or 0), v["value"]))
        kinds[kind] = values[:limit]
    return {"window": {"since": since, "until": until}, "members": len(pks), "kinds": kinds}


# --- candidates -----------------------------------------------------------------------------


def candidate_accounts(campaign: Campaign, *, since: datetime | None = None, until: datetime | None = None,
                       limit: int = 50, probe_values: int = 40) -> list[dict]:
    """Accounts not linked to the campaign that share its rarest values.

    The values at least two members share (sign-up values, and traffic values in the window)
    are probed, the ``probe_values`` carried by most members first; a value's weight is the
    share of its carriers that are members (a NAT used by 500 others weighs little). Accounts
    an analyst unlinked are left out: they were looked at and removed.
    Returns ``[{account, score, shared: [{kind, value, requests, weight}]}]``, best first.
    """
    pks = _member_pks(campaign)
    if not pks:
        return []
    excluded = set(pks) | set(Membership.objects.filter(campaign=campaign).values_list("account_id", flat=True))
    since, until = campaign_window(campaign, since, until)
    attributes = [v for v in account_selectors.account_attribute_values(pks)
                  if v["accounts"] >= 2 and v["total_accounts"] <= account_selectors.COMMON_VALUE_ACCOUNTS]
    found = account_selectors.accounts_sharing_attributes(attributes, exclude=excluded)
    carriers = {(v["kind"], v["value"]): v["accounts"] for v in attributes}
    totals = {(v["kind"], v["value"]): v["total_accounts"] for v in attributes}
    if since is not None and until is not None:
        traffic = [v for v in account_selectors.traffic_values(pks, since, until)
                   if v["accounts"] >= 2 and v["kind"] in account_selectors.TRAFFIC_VALUE_KINDS]
        traffic.sort(key=lambda v: -v["accounts"])
        traffic = traffic[:probe_values]
        outside = account_selectors.accounts_sharing_traffic(traffic, since, until, exclude=excluded)
        for v in traffic:
            carriers[(v["kind"], v["value"])] = v["accounts"]
        for row in outside:
            key = (row["kind"], row["value"])
            totals[key] = totals.get(key, carriers.get(key, 0)) + 1
        found += outside
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
        if entry["account"] is not None:
            out.append(entry)
    return out


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
