"""Reads the campaign pages need that the shared selectors do not (yet) provide.

Every chart reads rollups (``account_hour``, ``traffic_hour``), never the request table; the
one request-level read (shared IPs, templates, client fingerprints) is bounded to a window
of the campaign's latest activity and walks the (account_id, ts) index per member.
Aggregates for a campaign are cached under a key that changes whenever its membership or
figures change, so a busy case page does not re-aggregate on every view.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection

from accounts.models import Account, Category, ModelName
from campaigns.models import Campaign, Membership

CACHE_SECONDS = 300
TOP_KEYS = 10
INFRA_WINDOW = timedelta(hours=72)
BY_CHOICES = ("category", "model")


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def campaign_cache_key(campaign: Campaign, *parts) -> str:
    stamp = campaign.last_activity.timestamp() if campaign.last_activity else 0
    return ":".join(str(p) for p in ("camp", campaign.pk, campaign.member_count, campaign.request_count, stamp, *parts))


def lookup_names(by: str) -> dict[int, str]:
    model = Category if by == "category" else ModelName
    return {pk: (value or "(none)") for pk, value in model.objects.values_list("id", "value")}


def _hour_sql(scope: str, by: str) -> str:
    column = "category_id" if by == "category" else "model_id"
    if scope == "campaign":
        return (f"SELECT ah.hour, ah.{column}, SUM(ah.requests) FROM account_hour ah "
                "JOIN membership m ON m.account_id = ah.account_id AND m.campaign_id = %s AND m.active "
                "WHERE ah.hour >= %s AND ah.hour < %s GROUP BY 1, 2 ORDER BY 1")
    return (f"SELECT ah.hour, ah.{column}, SUM(ah.requests) FROM account_hour ah "
            "WHERE ah.account_id = %s AND ah.hour >= %s AND ah.hour < %s GROUP BY 1, 2 ORDER BY 1")


def hours_by_key(scope: str, object_id: int, by: str, start: datetime, end: datetime) -> list[tuple[datetime, str, int]]:
    """Requests per hour and category (or model) from the account × hour rollup."""
    by = by if by in BY_CHOICES else "category"
    names = lookup_names(by)
    return [(hour, names.get(key, str(key)), int(n)) for hour, key, n in _rows(_hour_sql(scope, by), [object_id, start, end])]


def campaign_hours(campaign: Campaign, by: str, start: datetime, end: datetime) -> list[tuple[datetime, str, int]]:
    key = campaign_cache_key(campaign, "hours", by, start.isoformat(), end.isoformat())
    rows = cache.get(key)
    if rows is None:
        rows = hours_by_key("campaign", campaign.pk, by, start, end)
        cache.set(key, rows, CACHE_SECONDS)
    return rows


def campaign_mix(campaign: Campaign, start: datetime, end: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Requests per category for the campaign and for all traffic over the same window."""
    key = campaign_cache_key(campaign, "mix", start.isoformat(), end.isoformat())
    cached = cache.get(key)
    if cached is not None:
        return cached
    names = lookup_names("category")
    mine = _rows("SELECT ah.category_id, SUM(ah.requests) FROM account_hour ah JOIN membership m "
                 "ON m.account_id = ah.account_id AND m.campaign_id = %s AND m.active "
                 "WHERE ah.hour >= %s AND ah.hour < %s GROUP BY 1", [campaign.pk, start, end])
    base = _rows("SELECT category_id, SUM(requests) FROM traffic_hour WHERE hour >= %s AND hour < %s GROUP BY 1",
                 [start, end])
    result = ({names.get(k, str(k)): int(n) for k, n in mine}, {names.get(k, str(k)): int(n) for k, n in base})
    cache.set(key, result, CACHE_SECONDS)
    return result


def traffic_by_day(days: int = 60) -> tuple[list[tuple[datetime, int]], list[tuple[datetime, int]]]:
    """All traffic and campaign traffic (active members of open campaigns) per day."""
    latest = _rows("SELECT max(hour) FROM traffic_hour", [])[0][0]
    if latest is None:
        return [], []
    start = latest - timedelta(days=days)
    key = f"overview:traffic:{latest.isoformat()}:{Membership.objects.filter(active=True).count()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    total = _rows("SELECT date_trunc('day', hour), SUM(requests) FROM traffic_hour WHERE hour >= %s GROUP BY 1 ORDER BY 1",
                  [start])
    campaign = _rows(
        "SELECT date_trunc('day', ah.hour), SUM(ah.requests) FROM account_hour ah "
        "WHERE ah.hour >= %s AND ah.account_id IN (SELECT m.account_id FROM membership m JOIN campaign c "
        "ON c.id = m.campaign_id WHERE m.active AND c.status <> 'dismissed') GROUP BY 1 ORDER BY 1", [start])
    result = ([(d, int(n)) for d, n in total], [(d, int(n)) for d, n in campaign])
    cache.set(key, result, CACHE_SECONDS)
    return result


def _net24(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


ACCOUNT_VALUES = (
    ("payment_fingerprint", "Payment fingerprint"),
    ("device_fingerprint", "Device fingerprint"),
    ("signup_asn", "Sign-up ASN"),
)


def shared_account_values(campaign: Campaign, limit: int = 15) -> list[dict]:
    """Sign-up values two or more members share, with how many members and accounts overall carry them."""
    key = campaign_cache_key(campaign, "infra-accounts")
    cached = cache.get(key)
    if cached is not None:
        return cached
    out: list[dict] = []
    for column, label in ACCOUNT_VALUES:
        rows = _rows(
            f"WITH mine AS (SELECT a.{column} AS v, count(*) AS n FROM account a JOIN membership m "
            f"ON m.account_id = a.id AND m.campaign_id = %s AND m.active WHERE a.{column} IS NOT NULL "
            f"GROUP BY 1 HAVING count(*) > 1 ORDER BY 2 DESC LIMIT %s) "
            f"SELECT mine.v, mine.n, (SELECT count(*) FROM account a2 WHERE a2.{column} = mine.v) FROM mine ORDER BY 2 DESC",
            [campaign.pk, limit])
        out += [{"kind": label, "value": str(v), "members": n, "accounts": total, "field": column} for v, n, total in rows]
    rows = _rows(
        "SELECT set_masklen(a.signup_ip::cidr, 24), count(*) FROM account a JOIN membership m ON m.account_id = a.id "
        "AND m.campaign_id = %s AND m.active WHERE family(a.signup_ip) = 4 GROUP BY 1 HAVING count(*) > 1 "
        "ORDER BY 2 DESC LIMIT %s", [campaign.pk, limit])
    for net, n in rows:
        total = Account.objects.extra(where=["signup_ip << %s::cidr"], params=[str(net)]).count()
        out.append({"kind": "Sign-up /24", "value": str(net), "members": n, "accounts": total, "field": "signup_24"})
    rows = _rows(
        "SELECT lower(split_part(a.email, '@', 2)), count(*) FROM account a JOIN membership m ON m.account_id = a.id "
        "AND m.campaign_id = %s AND m.active WHERE a.email LIKE '%%@%%' GROUP BY 1 HAVING count(*) > 1 "
        "ORDER BY 2 DESC LIMIT %s", [campaign.pk, limit])
    for domain, n in rows:
        out.append({"kind": "E-mail domain", "value": domain, "members": n, "accounts": None, "field": "email_domain"})
    cache.set(key, out, CACHE_SECONDS)
    return out


def shared_request_values(campaign: Campaign, limit: int = 15) -> tuple[list[dict], datetime | None, datetime | None]:
    """Request-side values members share (IPs, /24s, ASNs, templates, client fingerprints),
    over the last INFRA_WINDOW of the campaign's activity, so the scan stays bounded."""
    end = campaign.last_activity
    if end is None:
        return [], None, None
    start = end - INFRA_WINDOW
    key = campaign_cache_key(campaign, "infra-requests")
    cached = cache.get(key)
    if cached is not None:
        return cached
    base = ("WITH r AS (SELECT r.account_id, r.ip, r.asn, r.template_id, r.client_fingerprint_id FROM request r "
            "JOIN membership m ON m.account_id = r.account_id AND m.campaign_id = %s AND m.active "
            "WHERE r.ts >= %s AND r.ts <= %s) ")
    queries = (
        ("Request /24", "set_masklen(ip::cidr, 24)::text", "family(ip) = 4", "ip_24"),
        ("Request IP", "host(ip)", "true", "ip"),
        ("Request ASN", "asn::text", "asn IS NOT NULL", "asn"),
        ("Prompt template", "(SELECT value FROM lookup_template t WHERE t.id = template_id)", "template_id IS NOT NULL", "template"),
        ("Client fingerprint", "(SELECT value FROM lookup_client_fingerprint f WHERE f.id = client_fingerprint_id)",
         "client_fingerprint_id IS NOT NULL", "client_fingerprint"),
    )
    union = " UNION ALL ".join(
        f"(SELECT '{label}', {expr}, count(DISTINCT account_id), count(*), '{field}' FROM r WHERE {cond} "
        f"GROUP BY 2 HAVING count(DISTINCT account_id) > 1 ORDER BY 3 DESC, 4 DESC LIMIT {int(limit)})"
        for label, expr, cond, field in queries)
    rows = _rows(base + union, [campaign.pk, start, end])
    result = ([{"kind": k, "value": v, "members": n, "requests": req, "field": f} for k, v, n, req, f in rows], start, end)
    cache.set(key, result, CACHE_SECONDS)
    return result


def candidates(campaign: Campaign, limit: int = 25) -> list[dict]:
    """Accounts not linked to the campaign that share a payment or device fingerprint or a
    sign-up /24 with its members, most shared values first. Analyst-removed accounts are
    listed too (marked), since a reviewer may want to see them again."""
    key = campaign_cache_key(campaign, "candidates")
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = _rows(
        """
        WITH members AS (SELECT a.id, a.payment_fingerprint, a.device_fingerprint,
                                CASE WHEN family(a.signup_ip) = 4 THEN set_masklen(a.signup_ip::cidr, 24) END AS net
                         FROM account a JOIN membership m ON m.account_id = a.id AND m.campaign_id = %s AND m.active),
             hits AS (
               SELECT a.id, 'payment fingerprint' AS kind FROM account a
                 WHERE a.payment_fingerprint IN (SELECT payment_fingerprint FROM members WHERE payment_fingerprint IS NOT NULL)
               UNION ALL
               SELECT a.id, 'device fingerprint' FROM account a
                 WHERE a.device_fingerprint IN (SELECT device_fingerprint FROM members WHERE device_fingerprint IS NOT NULL)
               UNION ALL
               SELECT a.id, 'sign-up /24' FROM account a
                 WHERE family(a.signup_ip) = 4 AND set_masklen(a.signup_ip::cidr, 24) IN (SELECT net FROM members WHERE net IS NOT NULL))
        SELECT h.id, array_agg(DISTINCT h.kind), count(*) FROM hits h
        WHERE h.id NOT IN (SELECT id FROM members)
        GROUP BY h.id ORDER BY count(*) DESC, h.id LIMIT %s
        """, [campaign.pk, limit])
    accounts = Account.objects.in_bulk([r[0] for r in rows])
    removed = set(Membership.objects.filter(campaign=campaign, active=False, account_id__in=accounts)
                  .values_list("account_id", flat=True))
    result = [{"account": accounts[pk], "kinds": sorted(kinds), "shared": n, "removed": pk in removed}
              for pk, kinds, n in rows if pk in accounts]
    cache.set(key, result, CACHE_SECONDS)
    return result
