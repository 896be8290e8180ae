"""Campaign pages: overview, list, the case page and its HTMX partials, search.

Views stay thin: they validate with forms, read through selectors, write only through
``campaigns.services`` (which checks roles and writes the audit trail)."""

from __future__ import annotations

import importlib
import logging
import os
from datetime import timedelta

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from accounts import selectors as account_selectors
from accounts.models import Account
from campaigns import charts, filtersets, forms, selectors, services
from campaigns.errors import InvalidInput, ServiceError
from campaigns.models import (
    Campaign,
    DetectionRun,
)
from campaigns.pages import allowed, filtered, page, parse_ts, viewer_role, window, write_action
from campaigns.search import run_search
from campaigns.tables import keyset_page, paginate
from copycat import roles
from ingest.models import IngestRun

logger = logging.getLogger(__name__)
RAW_WINDOW = timedelta(hours=24)


def _optional(module: str):
    """A sibling engineer's module, or None while it does not exist yet."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# --- Overview -----------------------------------------------------------------------------

def overview(request: HttpRequest) -> HttpResponse:
    viewer_role(request)
    by_status = dict(Campaign.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    total, in_campaigns = selectors.traffic_by_day()
    runs = list(IngestRun.objects.order_by("-id")[:8])
    for run in runs:
        run.filename = os.path.basename(run.path)
    rejected: dict[str, int] = {}
    for reasons in IngestRun.objects.order_by("-id").values_list("rejected_by_reason", flat=True)[:200]:
        for reason, n in (reasons or {}).items():
            rejected[reason] = rejected.get(reason, 0) + int(n or 0)
    context = {
        "statuses": [(value, label, by_status.get(value, 0)) for value, label in Campaign.Status.choices],
        "runs": runs,
        "rejected": sorted(rejected.items(), key=lambda kv: -kv[1])[:10],
        "detection_runs": list(DetectionRun.objects.order_by("-id")[:8]),
        "top_campaigns": list(Campaign.objects.exclude(status=Campaign.Status.DISMISSED).order_by("-score", "-id")[:8]),
        "traffic_fig": charts.to_json(charts.traffic_overview(total, in_campaigns)) if total else None,
        "detection_available": _optional("campaigns.detection.service") is not None,
    }
    return page(request, "campaigns/overview.html", context, nav="overview")


@write_action
def start_detection(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "start_detection")
    service = _optional("campaigns.detection.service")
    if service is None or not hasattr(service, "start_run"):
        messages.error(request, "Detection is not installed yet on this server; run `manage.py detect` when it is.")
        return redirect("campaigns:overview")
    run = service.start_run(user=request.user)
    messages.success(request, f"Detection run {getattr(run, 'pk', '')} queued.")
    return redirect("campaigns:overview")


# --- List ---------------------------------------------------------------------------------

def campaign_list(request: HttpRequest) -> HttpResponse:
    viewer_role(request)
    filterset, queryset = filtered(filtersets.CampaignFilterSet, request.GET, selectors.campaign_list())
    # The filterset orders by the one field asked for; the id settles ties so pages are stable.
    order = queryset.query.order_by or ("-score",)
    queryset = queryset.order_by(*order, "-id")
    campaigns = paginate(queryset, request.GET.copy(), size=50, count=True)
    context = {"form": forms.dress_campaign_filters(filterset.form), "page": campaigns,
               "statuses": Campaign.Status.choices}
    if request.htmx and not request.htmx.boosted:
        return page(request, "campaigns/_partials/campaign_table.html", context)
    return page(request, "campaigns/list.html", context, nav="campaigns")


@write_action
def bulk_status(request: HttpRequest) -> HttpResponse:
    form = forms.BulkStatusForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label if field in form.fields else field}: {error}")
        return redirect(reverse("campaigns:list") + "?" + request.POST.get("filters", ""))
    status, reason = form.cleaned_data["status"], form.cleaned_data["reason"]
    roles.require(request.user, f"status_{status}")
    changed, problems = 0, []
    for campaign in Campaign.objects.filter(pk__in=form.cleaned_data["ids"]).order_by("id"):
        try:
            services.change_status(campaign, status, user=request.user, reason=reason)
            changed += 1
        except ServiceError as exc:  # a conflict on one campaign does not stop the others
            problems.append(f"Campaign {campaign.pk}: {exc}")
    if changed:
        messages.success(request, f"{changed} campaign(s) moved to {status}.")
    for problem in problems[:20]:
        messages.warning(request, problem)
    return redirect(reverse("campaigns:list") + "?" + request.POST.get("filters", ""))


# --- Campaign page ------------------------------------------------------------------------

def _campaign(pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("assignee", "created_by_run"), pk=pk)


BY_CHOICES = ("category", "model")


def _chart_rows(points: list[dict]) -> list[tuple]:
    return [(p["t"], p["key"] or "(none)", p["requests"]) for p in points]


def _timeline_context(request: HttpRequest, campaign: Campaign, known: dict | None = None) -> dict:
    """The zoomable timeline; ``known`` holds the chart rows already read for the default view."""
    by = request.GET.get("by") if request.GET.get("by") in BY_CHOICES else "category"
    start, end = window(request.GET, campaign.first_activity, campaign.last_activity)
    if known and (known["by"], known["start"], known["end"]) == (by, start, end):
        rows = known["rows"]
    else:
        rows = _chart_rows(selectors.campaign_timeline(campaign, by=by, since=start, until=end))
    return {"campaign": campaign, "by": by, "start": start, "end": end, "timeline_rows": len(rows),
            "timeline_fig": charts.to_json(charts.timeline(rows, start, end, by)),
            "raw_ok": end - start <= RAW_WINDOW, "raw_window_hours": int(RAW_WINDOW.total_seconds() // 3600),
            "zoom_url": reverse("campaigns:timeline", args=[campaign.pk])}


def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The case page. Charts read campaign_hour and traffic_hour; the request-level reads
    (shared traffic values, candidates) load afterwards through their own HTMX partials."""
    viewer_role(request)
    campaign = _campaign(pk)
    full_start, full_end = window({}, campaign.first_activity, campaign.last_activity)
    rows = _chart_rows(selectors.campaign_timeline(campaign, by="category", since=full_start, until=full_end))
    mine: dict[str, int] = {}
    for _, key, n in rows:
        mine[key] = mine.get(key, 0) + n
    base = account_selectors.traffic_by_category(full_start, full_end)
    known = {"by": "category", "start": full_start, "end": full_end, "rows": rows}
    packets_mod = _optional("campaigns.evidence.service")
    context = {
        **_timeline_context(request, campaign, known),
        "geo": selectors.campaign_geography(campaign),
        "heatmap_fig": charts.to_json(charts.heatmap(rows)),
        "mix_fig": charts.to_json(charts.mix(mine, base)),
        "signals": list(selectors.signal_list(campaign)[:20]),
        "infra": _labelled(selectors.shared_signup_values(campaign, limit=15, min_accounts=2)),
        "notes": paginate(selectors.note_list(campaign), request.GET, size=20, param="npage"),
        "history": paginate(selectors.audit_list().filter(campaign=campaign), request.GET, size=25, param="hpage"),
        "packets": list(selectors.packet_list().filter(campaign=campaign)[:10]),
        "packets_available": packets_mod is not None,
        "edit_form": forms.EditCampaignForm(instance=campaign),
        "next_statuses": [(v, label) for v, label in Campaign.Status.choices
                          if v != campaign.status and allowed(request)[f"status_{v}"]],
        **_members_context(request, campaign),
    }
    return page(request, "campaigns/detail.html", context, nav="campaigns")


def campaign_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    campaign = _campaign(pk)
    return page(request, "campaigns/_partials/timeline.html", _timeline_context(request, campaign))


INFRA_LABELS = {
    "payment_fingerprint": "Payment fingerprint", "device_fingerprint": "Device fingerprint",
    "signup_ip": "Sign-up IP", "signup_ip24": "Sign-up /24", "signup_asn": "Sign-up ASN",
    "email_domain": "E-mail domain", "ip24": "Request /24", "ip": "Request IP", "asn": "Request ASN",
    "template": "Prompt template", "client_fingerprint": "Client fingerprint",
}


def _labelled(kinds: dict[str, list[dict]]) -> list[dict]:
    """Rows for an infrastructure table: {kind (label), value, members, accounts, requests}."""
    return [{"kind": INFRA_LABELS.get(kind, kind), "value": v["value"], "members": v["accounts"],
             "accounts": v["total_accounts"], "requests": v["requests"]}
            for kind, values in kinds.items() for v in values]


def campaign_infra(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    campaign = _campaign(pk)
    start, end = selectors.campaign_window(campaign)
    rows = _labelled(selectors.shared_traffic_values(campaign, start, end, limit=15, min_accounts=2))
    return page(request, "campaigns/_partials/infra_requests.html",
                {"campaign": campaign, "rows": rows, "start": start, "end": end})


def campaign_candidates(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    campaign = _campaign(pk)
    found = selectors.candidate_accounts(campaign, limit=25, include_removed=True)
    return page(request, "campaigns/_partials/candidates.html", {"campaign": campaign, "candidates": found})


def _members_context(request: HttpRequest, campaign: Campaign) -> dict:
    data = request.GET.copy()
    if data.get("active") in (None, "", "unknown"):
        data["active"] = "true"  # the page lists linked members unless asked for unlinked ones
    data.setdefault("ordering", "-confidence")
    filterset, queryset = filtered(filtersets.MembershipFilterSet, data, selectors.member_list(campaign))
    order = queryset.query.order_by or ("-confidence",)
    queryset = queryset.order_by(*order, "id")
    removed = filterset.form.cleaned_data.get("active") is False if hasattr(filterset.form, "cleaned_data") else False
    return {"member_form": filterset.form, "members": paginate(queryset, request.GET, size=25, param="mpage", count=True),
            "showing_removed": removed, "members_url": reverse("campaigns:members", args=[campaign.pk])}


def campaign_members(request: HttpRequest, pk: int) -> HttpResponse:
    viewer_role(request)
    campaign = _campaign(pk)
    return page(request, "campaigns/_partials/members.html", {"campaign": campaign, **_members_context(request, campaign)})


def campaign_requests(request: HttpRequest, pk: int) -> HttpResponse:
    """The raw requests of the members in a zoomed window (at most RAW_WINDOW), keyset-paged."""
    viewer_role(request)
    campaign = _campaign(pk)
    start, end = parse_ts(request.GET.get("start")), parse_ts(request.GET.get("end"))
    context = {"campaign": campaign, "start": start, "end": end, "url": reverse("campaigns:requests", args=[pk])}
    if start is None or end is None or end <= start or end - start > RAW_WINDOW:
        context["problem"] = (f"Zoom the timeline to {int(RAW_WINDOW.total_seconds() // 3600)} hours or less to "
                              "see the raw requests.")
        return page(request, "campaigns/_partials/requests.html", context)
    rows = keyset_page(lambda cursor: selectors.campaign_requests(campaign, start, end, cursor=cursor), request.GET)
    context["rows"] = rows
    context["requests"] = account_selectors.request_rows(rows.items, revealed=False)
    return page(request, "campaigns/_partials/requests.html", context)


@write_action
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    form = forms.StatusForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("Choose a status and give a reason for the change.")
    services.change_status(campaign, form.cleaned_data["status"], user=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"Campaign moved to {form.cleaned_data['status']}.")
    return redirect("campaigns:detail", pk=pk)


@write_action
def edit_campaign(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    roles.require(request.user, "edit_campaign")  # before the form: a viewer learns 403, not what to fill in
    form = forms.EditCampaignForm(request.POST, instance=Campaign.objects.get(pk=pk))
    if not form.is_valid():
        raise InvalidInput("; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()))
    data = form.cleaned_data
    services.update_campaign(campaign, user=request.user, reason=data.pop("reason", ""),
                             **{k: data[k] for k in services.EDITABLE_FIELDS})
    messages.success(request, "Campaign saved.")
    return redirect("campaigns:detail", pk=pk)


def _account(account_id: str) -> Account:
    account = Account.objects.filter(account_id=(account_id or "").strip()).first()
    if account is None:
        raise InvalidInput(f"No account {account_id!r}; check the id (search finds accounts by id, IP or fingerprint).")
    return account


@write_action
def link(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    form = forms.LinkForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("Give the account id and a reason for linking it.")
    account = _account(form.cleaned_data["account"])
    services.link_account(campaign, account, user=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"{account.account_id} linked to {campaign.name}.")
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/") else
                    reverse("campaigns:detail", args=[pk]))


@write_action
def unlink(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    form = forms.UnlinkForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("Give a reason for unlinking the account.")
    account = _account(form.cleaned_data["account"])
    services.unlink_account(campaign, account, user=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"{account.account_id} unlinked from {campaign.name}.")
    return redirect(reverse("campaigns:detail", args=[pk]) + "#members")


@write_action
def add_note(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    form = forms.NoteForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("A note needs some text (at most 20,000 characters).")
    services.add_note(campaign, user=request.user, text=form.cleaned_data["text"])
    messages.success(request, "Note added.")
    return redirect(reverse("campaigns:detail", args=[pk]) + "#notes")


@write_action
def request_packet(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(pk)
    redacted = request.POST.get("redacted", "1") != "0"
    roles.require(request.user, "export_packet" if redacted else "export_unredacted")
    service = _optional("campaigns.evidence.service")
    if service is None or not hasattr(service, "request_packet"):
        messages.error(request, "Evidence packets are not available on this server yet.")
        return redirect("campaigns:detail", pk=pk)
    reason = (request.POST.get("reason") or "").strip()[:2000]
    service.request_packet(campaign, user=request.user, redacted=redacted, reason=reason)
    messages.success(request, "Evidence packet requested; it appears below when built.")
    return redirect(reverse("campaigns:detail", args=[pk]) + "#evidence")


# --- Search -------------------------------------------------------------------------------

def search(request: HttpRequest) -> HttpResponse:
    viewer_role(request)
    # NUL and other control characters cannot be in a PostgreSQL text value; drop them.
    q = "".join(ch for ch in (request.GET.get("q") or "") if ch >= " ").strip()[:200]
    result = run_search(q, request.GET) if q else None
    if result and result.redirect:
        return redirect(result.redirect)
    return page(request, "campaigns/search.html", {"search_q": q, "result": result, "may_all": allowed(request)})


def not_found(request: HttpRequest) -> HttpResponse:
    raise Http404
