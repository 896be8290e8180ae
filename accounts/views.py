"""Account pages: profile (personal data masked unless revealed with a reason), timeline,
sessions, keyset-paged requests, campaigns, neighbours, link to a campaign."""

from __future__ import annotations

import time
from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from accounts import filtersets, forms, selectors
from accounts import services as account_services
from accounts.masking import mask_email, mask_ip, mask_value
from accounts.models import Account, Request, Session
from accounts.services import REVEAL_SECONDS
from campaigns import charts, services
from campaigns.errors import InvalidInput
from campaigns.models import Campaign, Membership
from campaigns.pages import filtered, page, viewer_role, window, write_action
from campaigns.tables import keyset_page, paginate
from campaigns.views import BY_CHOICES, INFRA_LABELS, _chart_rows
from copycat import roles

RAW_WINDOW = timedelta(hours=24)
_SESSION_KEY = "copycat_revealed"


def is_revealed(request: HttpRequest, account: Account) -> bool:
    """True while a reveal of this account's personal data is fresh (REVEAL_SECONDS)."""
    expiry = (request.session.get(_SESSION_KEY) or {}).get(str(account.pk))
    return bool(expiry and expiry > time.time())


def _account(pk: int) -> Account:
    return get_object_or_404(Account.objects.select_related("org"), pk=pk)


def _timeline_context(request: HttpRequest, account: Account) -> dict:
    by = request.GET.get("by") if request.GET.get("by") in BY_CHOICES else "category"
    start, end = window(request.GET, account.first_request_at, account.last_request_at)
    rows = _chart_rows(selectors.account_timeline(account, by=by, since=start, until=end))
    return {"account": account, "by": by, "start": start, "end": end,
            "timeline_fig": charts.to_json(charts.timeline(rows, start, end, by)),
            "raw_ok": end - start <= RAW_WINDOW, "zoom_url": reverse("accounts:timeline", args=[account.pk])}


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    account = _account(pk)
    revealed = is_revealed(request, account)
    memberships = list(Membership.objects.filter(account=account).select_related("campaign").order_by("-active", "-id")[:50])
    context = {
        **_timeline_context(request, account),
        **_requests_context(request, account, revealed),
        "revealed": revealed,
        "email": mask_email(account.email, revealed),
        "signup_ip": mask_ip(account.signup_ip, revealed),
        "ips": [{**row, "ip": mask_ip(row["ip"], revealed)} for row in selectors.account_ips(account)],
        "ip_sample": selectors.IP_SAMPLE,
        "sessions": paginate(Session.objects.filter(account_id=account.pk).order_by("-ended_at", "-id"), request.GET,
                             size=20, param="spage"),
        "memberships": memberships,
        "link_form": forms.LinkToCampaignForm(),
        "reveal_form": forms.RevealForm(),
    }
    return page(request, "accounts/detail.html", context, nav="")


def account_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    account = _account(pk)
    context = _timeline_context(request, account)
    if context["raw_ok"]:
        context["window_sessions"] = list(Session.objects.filter(
            account_id=account.pk, ended_at__gte=context["start"], started_at__lt=context["end"]).order_by("-ended_at")[:50])
    return page(request, "accounts/_partials/timeline.html", context)


def _requests_context(request: HttpRequest, account: Account, revealed: bool) -> dict:
    filterset, queryset = filtered(filtersets.RequestFilterSet, request.GET, Request.objects.all())
    rows = keyset_page(lambda cursor: selectors.account_requests(account, requests=queryset, cursor=cursor, limit=50),
                       request.GET)
    return {"request_form": filterset.form, "rows": rows,
            "requests": selectors.request_rows(rows.items, revealed=revealed),
            "requests_url": reverse("accounts:requests", args=[account.pk])}


def account_requests(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    account = _account(pk)
    context = {"account": account, **_requests_context(request, account, is_revealed(request, account))}
    return page(request, "accounts/_partials/requests.html", context)


def account_neighbours(request: HttpRequest, pk: int) -> HttpResponse:
    """Accounts sharing this one's rare values (the API's neighbours), loaded after the page:
    the traffic half scans a week of requests."""
    viewer_role(request)
    account = _account(pk)
    revealed = is_revealed(request, account)
    rows = [{"account": n["account"], "shared": [
        {"kind": INFRA_LABELS.get(s["kind"], s["kind"]), "value": mask_value(s["kind"], s["value"], revealed),
         "requests": s["requests"]} for s in n["shared"]]} for n in selectors.account_neighbours(account, limit=30)]
    return page(request, "accounts/_partials/neighbours.html", {"account": account, "neighbours": rows})


@write_action
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show this account's personal data for REVEAL_SECONDS; the reason goes to the audit trail."""
    roles.require(request.user, "reveal_personal_data")
    account = _account(pk)
    form = forms.RevealForm(request.POST)
    if not form.is_valid():
        raise InvalidInput(" ".join(form.errors.get("reason", ["State a reason."])))
    account_services.reveal_personal_data(account, user=request.user, reason=form.cleaned_data["reason"])
    revealed = dict(request.session.get(_SESSION_KEY) or {})
    revealed = {k: v for k, v in revealed.items() if v > time.time()}
    revealed[str(account.pk)] = time.time() + REVEAL_SECONDS
    request.session[_SESSION_KEY] = revealed
    messages.success(request, f"Personal data of {account.account_id} shown for {REVEAL_SECONDS // 60} minutes; "
                              "the reveal is in the audit trail.")
    return redirect("accounts:detail", pk=pk)


@write_action
def link(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(pk)
    form = forms.LinkToCampaignForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("Choose a campaign and give a reason for linking.")
    campaign = get_object_or_404(Campaign, pk=form.cleaned_data["campaign"])
    services.link_account(campaign, account, user=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"{account.account_id} linked to {campaign.name}.")
    return redirect("accounts:detail", pk=pk)


def by_account_id(request: HttpRequest, account_id: str) -> HttpResponse:
    viewer_role(request)
    account = get_object_or_404(Account, account_id=account_id)
    return redirect("accounts:detail", pk=account.pk)
