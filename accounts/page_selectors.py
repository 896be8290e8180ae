"""Reads the account pages need beyond the shared selectors: masking of personal data,
request rows with their lookup values, an account's IPs and its neighbours.

Personal data (e-mail, sign-up IP, request IPs, prompt excerpts) is masked here unless the
page says it was revealed (with a stated, audited reason)."""

from __future__ import annotations

import hashlib
import ipaddress

from django.db import connection

from accounts.models import (
    IP_TYPES,
    Account,
    Category,
    ClientFingerprint,
    Country,
    ModelName,
    PromptTemplate,
    RequestExcerpt,
)

IP_SAMPLE = 5000
NEIGHBOUR_SAMPLE = 10


def short_hash(value: str) -> str:
    """A stable tag so masked values can still be matched by eye."""
    return hashlib.sha256(value.encode()).hexdigest()[:6]


def mask_email(email: str | None, revealed: bool) -> str | None:
    if not email or revealed:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain} (#{short_hash(email)})" if domain else f"••• (#{short_hash(email)})"


def mask_ip(ip: str | None, revealed: bool) -> str | None:
    """An IPv4 address keeps its /24 (the network, which infrastructure analysis uses); the host
    part is hidden. IPv6 keeps its /48."""
    if not ip or revealed:
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "•••"
    if address.version == 4:
        return ".".join(ip.split(".")[:3]) + f".••• (#{short_hash(ip)})"
    net = ipaddress.ip_network(f"{ip}/48", strict=False)
    return f"{net.network_address}•••/48 (#{short_hash(ip)})"


def _names(model, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(model.objects.filter(id__in=ids).values_list("id", "value")) if ids else {}


def decorate_requests(rows: list, *, revealed: bool) -> list[dict]:
    """Request rows with their lookup values resolved in one query per lookup table."""
    models = _names(ModelName, [r.model_id for r in rows])
    categories = _names(Category, [r.category_id for r in rows])
    countries = _names(Country, [r.country_id for r in rows])
    templates = _names(PromptTemplate, [r.template_id for r in rows])
    clients = _names(ClientFingerprint, [r.client_fingerprint_id for r in rows])
    excerpts = dict(RequestExcerpt.objects.filter(request_id__in=[r.request_id for r in rows])
                    .values_list("request_id", "excerpt")) if rows else {}
    accounts = dict(Account.objects.filter(id__in={r.account_id for r in rows}).values_list("id", "account_id")) if rows else {}
    out = []
    for r in rows:
        excerpt = excerpts.get(r.request_id)
        out.append({
            "request_id": r.request_id, "ts": r.ts, "account_pk": r.account_id, "account_id": accounts.get(r.account_id, "?"),
            "model": models.get(r.model_id, ""), "category": categories.get(r.category_id, ""),
            "country": countries.get(r.country_id, ""), "asn": r.asn,
            "ip_type": IP_TYPES[r.ip_type] if r.ip_type is not None and 0 <= r.ip_type < len(IP_TYPES) else "",
            "ip": mask_ip(r.ip, revealed), "status_code": r.status_code, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "template": templates.get(r.template_id, ""),
            "client": clients.get(r.client_fingerprint_id, ""), "reasoning": r.reasoning_requested,
            "excerpt": (excerpt if revealed else f"(hidden, {len(excerpt)} characters)") if excerpt else "",
        })
    return out


def account_ips(account: Account, *, revealed: bool, limit: int = 20) -> list[dict]:
    """IPs of the account's latest IP_SAMPLE requests with counts (walks the (account_id, ts)
    index; counted in SQL so only `limit` rows come back)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT host(ip), count(*) FROM (SELECT ip FROM request WHERE account_id = %s "
                       "ORDER BY ts DESC LIMIT %s) s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s",
                       [account.pk, IP_SAMPLE, limit])
        rows = cursor.fetchall()
    return [{"ip": mask_ip(ip, revealed), "raw": ip, "requests": n} for ip, n in rows]


def neighbours(account: Account) -> list[dict]:
    """Accounts sharing a sign-up value with this one, with how many share it."""
    checks = []
    if account.payment_fingerprint:
        checks.append(("payment fingerprint", account.payment_fingerprint, Account.objects.filter(payment_fingerprint=account.payment_fingerprint)))
    if account.device_fingerprint:
        checks.append(("device fingerprint", account.device_fingerprint, Account.objects.filter(device_fingerprint=account.device_fingerprint)))
    if account.signup_ip:
        checks.append(("sign-up IP", account.signup_ip, Account.objects.filter(signup_ip=account.signup_ip)))
        try:
            if ipaddress.ip_address(account.signup_ip).version == 4:
                net = str(ipaddress.ip_network(f"{account.signup_ip}/24", strict=False))
                checks.append(("sign-up /24", net, Account.objects.extra(where=["signup_ip << %s::cidr"], params=[net])))
        except ValueError:
            pass
    if account.org_id:
        checks.append(("org", str(account.org), Account.objects.filter(org_id=account.org_id)))
    out = []
    for kind, value, queryset in checks:
        others = queryset.exclude(pk=account.pk)
        count = others.count()
        if count:
            out.append({"kind": kind, "value": value, "count": count,
                        "sample": list(others.order_by("-request_count", "id").only("id", "account_id", "request_count")[:NEIGHBOUR_SAMPLE])})
    return out
