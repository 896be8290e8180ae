"""Search from any page: account id, IP or /24, payment/device/client fingerprint, template
hash, e-mail domain, org, campaign name.

Account-level values use indexed columns of the account table. Request-level values (request
IPs, templates, client fingerprints) have no index on the 50M-row table, so they are looked
up over the latest REQUEST_WINDOW of traffic only, and the page says so.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Max, Q
from django.urls import reverse

from accounts.models import (
    Account,
    ClientFingerprint,
    Org,
    PromptTemplate,
    Request,
    TrafficHour,
)
from campaigns.models import Campaign, Membership, Signal
from campaigns.tables import paginate
from copycat.text import is_whole_number

REQUEST_WINDOW = timedelta(hours=72)
MAX_MATCHES = 5000


@dataclass
class SearchResult:
    q: str
    kinds: list[str] = field(default_factory=list)
    matches: dict[int, set[str]] = field(default_factory=dict)
    campaigns: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    redirect: str | None = None
    page: object = None
    rows: list = field(default_factory=list)

    def add(self, ids, why: str) -> None:
        for pk in ids:
            if len(self.matches) >= MAX_MATCHES and pk not in self.matches:
                self.notes.append(f"More than {MAX_MATCHES:,} accounts match; narrow the search.")
                return
            self.matches.setdefault(pk, set()).add(why)


def _network(q: str):
    text = q.strip()
    if "/" not in text and text.count(".") == 2 and all(is_whole_number(p) for p in text.split(".")):
        text += ".0/24"  # "203.0.113" means the /24
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net if "/" in text else None


def _request_window():
    latest = TrafficHour.objects.aggregate(m=Max("hour"))["m"]
    return (latest - REQUEST_WINDOW, latest + timedelta(hours=1)) if latest else (None, None)


def _by_requests(result: SearchResult, condition: Q, why: str) -> None:
    start, end = _request_window()
    if start is None:
        return
    ids = (Request.objects.filter(condition, ts__gte=start, ts__lt=end).values_list("account_id", flat=True)
           .distinct()[:MAX_MATCHES])
    result.add(ids, why)
    result.notes.append(f"Request values are searched over the latest {int(REQUEST_WINDOW.total_seconds() // 3600)} "
                        f"hours of traffic ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC).")


def run_search(q: str, query) -> SearchResult:
    result = SearchResult(q=q)
    exact = Account.objects.filter(account_id=q).values_list("id", flat=True).first()
    if exact is not None:
        result.redirect = reverse("accounts:detail", args=[exact])
        return result
    try:
        ip = ipaddress.ip_address(q)
    except ValueError:
        ip = None
    net = _network(q) if ip is None else None
    if ip is not None:
        result.kinds.append("IP address")
        result.add(Account.objects.filter(signup_ip=str(ip)).values_list("id", flat=True)[:MAX_MATCHES], "sign-up IP")
        _by_requests(result, Q(ip=str(ip)), "request IP")
    elif net is not None:
        result.kinds.append(f"network {net}")
        result.add(Account.objects.extra(where=["signup_ip << %s::cidr"], params=[str(net)])
                   .values_list("id", flat=True)[:MAX_MATCHES], f"sign-up IP in {net}")
        if net.num_addresses <= 65536:
            start, end = _request_window()
            if start is not None:
                ids = (Request.objects.filter(ts__gte=start, ts__lt=end).extra(where=["ip << %s::cidr"], params=[str(net)])
                       .values_list("account_id", flat=True).distinct()[:MAX_MATCHES])
                result.add(ids, f"request IP in {net}")
                result.notes.append(f"Request IPs are searched over the latest "
                                    f"{int(REQUEST_WINDOW.total_seconds() // 3600)} hours of traffic.")
        else:
            result.notes.append("Request IPs are searched for networks of a /16 or smaller only.")
    else:
        if q.startswith("@") or ("." in q and " " not in q and "@" not in q[1:] and not q.replace(".", "").isdigit()):
            domain = q.lstrip("@").lower()
            if domain:
                ids = Account.objects.filter(email__iendswith="@" + domain).values_list("id", flat=True)[:MAX_MATCHES]
                if ids:
                    result.kinds.append("e-mail domain")
                    result.add(ids, f"e-mail @{domain}")
        payment = Account.objects.filter(payment_fingerprint=q).values_list("id", flat=True)[:MAX_MATCHES]
        if payment:
            result.kinds.append("payment fingerprint")
            result.add(payment, "payment fingerprint")
        device = Account.objects.filter(device_fingerprint=q).values_list("id", flat=True)[:MAX_MATCHES]
        if device:
            result.kinds.append("device fingerprint")
            result.add(device, "device fingerprint")
        org = Org.objects.filter(value=q).first()
        if org:
            result.kinds.append("org")
            result.add(Account.objects.filter(org=org).values_list("id", flat=True)[:MAX_MATCHES], f"org {org.value}")
        template = PromptTemplate.objects.filter(value=q).first()
        if template:
            result.kinds.append("template hash")
            _by_requests(result, Q(template_id=template.pk), "prompt template")
        client = ClientFingerprint.objects.filter(value=q).first()
        if client:
            result.kinds.append("client fingerprint")
            _by_requests(result, Q(client_fingerprint_id=client.pk), "client fingerprint")
        if len(q) >= 3:
            prefix = Account.objects.filter(account_id__startswith=q).values_list("id", flat=True)[:200]
            if prefix:
                result.kinds.append("account id prefix")
                result.add(prefix, "account id starts with it")
    signal_campaigns = Signal.objects.filter(value=q).values_list("campaign_id", flat=True)[:50]
    by_id = Q(pk=int(q)) if is_whole_number(q) and len(q) < 12 else Q(pk__in=[])
    result.campaigns = list(Campaign.objects.filter(Q(name__icontains=q) | Q(pk__in=list(signal_campaigns)) | by_id)
                            .order_by("-score")[:50])
    ids = sorted(result.matches)
    result.page = paginate(ids, query, size=50, count=True)
    accounts = Account.objects.in_bulk(list(result.page.items))
    campaigns_of = {}
    for account_id, campaign_id, name in (Membership.objects.filter(account_id__in=list(result.page.items), active=True)
                                          .values_list("account_id", "campaign_id", "campaign__name")):
        campaigns_of.setdefault(account_id, []).append((campaign_id, name))
    result.rows = [{"account": accounts[pk], "why": sorted(result.matches[pk]), "campaigns": campaigns_of.get(pk, [])}
                   for pk in result.page.items if pk in accounts]
    result.notes = list(dict.fromkeys(result.notes))
    return result
