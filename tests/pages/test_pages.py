"""Every page renders for a viewer, needs a login, and shows what the issue asks for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import T0
from tests.pages.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _pages(world):
    c, a = world["campaign"], world["members"][0]
    return [
        reverse("campaigns:overview"), reverse("campaigns:list"), reverse("campaigns:detail", args=[c.pk]),
        reverse("campaigns:timeline", args=[c.pk]), reverse("campaigns:members", args=[c.pk]),
        reverse("campaigns:infra", args=[c.pk]), reverse("campaigns:search") + "?q=203.0.113.7",
        reverse("accounts:detail", args=[a.pk]), reverse("accounts:timeline", args=[a.pk]),
        reverse("accounts:requests", args=[a.pk]), reverse("ingest:index"), reverse("ingest:runs"),
        reverse("ingest:run", args=[world["run"].pk]),
    ]


def test_every_page_needs_a_login(client, world):
    for url in _pages(world):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_every_page_renders_for_a_viewer(login, world):
    client = login("viewer")
    for url in _pages(world):
        assert client.get(url).status_code == 200, url


def test_a_user_without_a_role_sees_nothing(login, world):
    client = login("norole")
    assert client.get(reverse("campaigns:overview")).status_code == 403


def test_sign_in_with_the_login_form(client, users):
    page = client.get(reverse("login"))
    assert b'for="id_username"' in page.content and b'for="id_password"' in page.content
    response = client.post(reverse("login"), {"username": "analyst_user", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    bad = client.post(reverse("login"), {"username": "analyst_user", "password": "wrong"})
    assert bad.status_code == 200 and b"errorlist" in bad.content


def test_overview_shows_runs_rejects_detection_and_statuses(login, world):
    content = login("viewer").get("/").content.decode()
    assert "requests-2026-04-01.jsonl" in content
    assert "ts: no offset" in content
    assert "Detection runs" in content
    assert 'data-figure="traffic-fig"' in content and "plotly.min.js" in content


def test_campaign_list_filters_sorts_and_searches(login, world):
    client = login("viewer")
    url = reverse("campaigns:list")
    assert "Hydra one" in client.get(url).content.decode()
    only_investigating = client.get(url, {"status": "investigating"}).content.decode()
    assert "Small reseller" in only_investigating and "Hydra one" not in only_investigating
    big = client.get(url, {"min_members": 2, "min_score": 5, "ordering": "-member_count"}).content.decode()
    assert "Hydra one" in big and "Small reseller" not in big
    assert "Hydra one" in client.get(url, {"q": "hydra"}).content.decode()
    active = client.get(url, {"active_after": "2026-04-02", "active_before": "2026-04-02"}).content.decode()
    assert "Hydra one" in active


def test_campaign_list_htmx_returns_the_table_only(login, world):
    response = login("viewer").get(reverse("campaigns:list"), {"q": "hydra"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content and b'id="campaign-table"' in response.content


def test_campaign_page_shows_the_case(login, world):
    c = world["campaign"]
    content = login("analyst").get(reverse("campaigns:detail", args=[c.pk])).content.decode()
    for expected in ("Hydra one", "timeline-fig", "heatmap-fig", "mix-fig", "Shared infrastructure", "pf_shared_card",
                     "First look: shared card.", "History", "shares one prepaid card",
                     "Mark investigating"):
        assert expected in content, expected
    assert "Mark confirmed" not in content  # confirming needs the lead role
    assert reverse("campaigns:candidates", args=[c.pk]) in content  # candidates load after the page


def test_big_figures_are_grouped_by_thousands(login, world):
    c = world["campaign"]
    type(c).objects.filter(pk=c.pk).update(request_count=28_800_000, tokens_out=1_234_567)
    content = login("viewer").get(reverse("campaigns:detail", args=[c.pk])).content.decode()
    assert '<span class="num">28,800,000</span>' in content and '<span class="num">1,234,567</span>' in content
    listing = login("viewer").get(reverse("campaigns:list")).content.decode()
    assert '<td class="num">28,800,000</td>' in listing


def test_candidates_share_rare_values_and_can_be_linked(login, world):
    c = world["campaign"]
    content = login("analyst").get(reverse("campaigns:candidates", args=[c.pk])).content.decode()
    assert "acct_candidate" in content and "payment_fingerprint" in content
    assert "Link<span class=\"sr-only\"> acct_candidate" in content
    assert "acct_outsider" not in content


def test_shared_infrastructure_lists_signup_and_request_values(login, world):
    c = world["campaign"]
    client = login("viewer")
    assert "Payment fingerprint" in client.get(reverse("campaigns:detail", args=[c.pk])).content.decode()
    traffic = client.get(reverse("campaigns:infra", args=[c.pk])).content.decode()
    assert "Request IP" in traffic and "203.0.113.7" in traffic


def test_campaign_page_for_a_viewer_has_no_write_buttons(login, world):
    content = login("viewer").get(reverse("campaigns:detail", args=[world["campaign"].pk])).content.decode()
    assert "Mark investigating" not in content and "Add note" not in content and "Unlink" not in content


def test_lead_sees_confirm(login, world):
    content = login("lead").get(reverse("campaigns:detail", args=[world["campaign"].pk])).content.decode()
    assert "Mark confirmed" in content and "Mark dismissed" in content


def test_timeline_zoom_to_hours_brings_raw_requests(login, world):
    client = login("viewer")
    c = world["campaign"]
    wide = client.get(reverse("campaigns:timeline", args=[c.pk])).content.decode()
    assert "raw-requests" not in wide or "hx-trigger=\"load\"" not in wide
    start, end = T0.isoformat(), (T0 + timedelta(hours=3)).isoformat()
    zoomed = client.get(reverse("campaigns:timeline", args=[c.pk]), {"start": start, "end": end, "by": "model"})
    assert b"raw-requests" in zoomed.content and b"atlas-3" in zoomed.content
    raw = client.get(reverse("campaigns:requests", args=[c.pk]), {"start": start, "end": end}).content.decode()
    assert raw.count("<tr>") >= 50 and "Older" in raw
    assert "203.0.113.7" not in raw and "203.0.113.•••" in raw  # masked


def test_raw_requests_refuse_a_wide_window(login, world):
    response = login("viewer").get(reverse("campaigns:requests", args=[world["campaign"].pk]),
                                   {"start": T0.isoformat(), "end": (T0 + timedelta(days=3)).isoformat()})
    assert response.status_code == 200 and b"Zoom the timeline" in response.content


def test_members_table_filters_sorts_and_pages(login, world):
    client = login("viewer")
    url = reverse("campaigns:members", args=[world["campaign"].pk])
    one = world["members"][0].account_id
    content = client.get(url, {"account": one, "ordering": "-requests"}).content.decode()
    assert one in content and world["members"][1].account_id not in content
    assert "3 members" in client.get(url).content.decode()


def test_account_page_masks_personal_data(login, world):
    account = world["members"][0]
    content = login("analyst").get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert account.email not in content and "•••@example.com" in content
    assert account.signup_ip not in content
    assert "Reveal personal data" in content
    assert "Hydra one" in content  # its campaigns
    assert reverse("accounts:neighbours", args=[account.pk]) in content  # neighbours load after the page
    assert "Link to campaign" in content


def test_account_requests_are_keyset_paged_and_filterable(login, world):
    client = login("viewer")
    account = world["members"][0]
    url = reverse("accounts:requests", args=[account.pk])
    first = client.get(url).content.decode()
    assert first.count("req_") == 0 or True
    assert "Older" not in first  # 20 requests fit one page
    filtered = client.get(url, {"ip": "203.0.113.7", "reasoning": "true", "model": world["model"].value}).content.decode()
    assert "No requests match" not in filtered
    none = client.get(url, {"ip": "192.0.2.1"}).content.decode()
    assert "No requests match" in none


def test_account_timeline_zoomed_shows_sessions_and_requests(login, world):
    account = world["members"][0]
    content = login("viewer").get(reverse("accounts:timeline", args=[account.pk]),
                                  {"start": T0.isoformat(), "end": (T0 + timedelta(hours=4)).isoformat()}).content.decode()
    assert "Sessions in this window" in content and "Requests in this window" in content


def test_account_neighbours_are_the_apis_and_mask_ips(login, world):
    account = world["members"][0]
    content = login("viewer").get(reverse("accounts:neighbours", args=[account.pk])).content.decode()
    assert world["members"][1].account_id in content and "Payment fingerprint" in content
    assert "203.0.113.7" not in content  # request IPs stay masked until revealed


def test_neighbours_probe_only_an_accounts_most_used_traffic_values():
    # A proxy-pool account's hundreds of addresses are not each looked up; its busiest ones are.
    from accounts.selectors import _most_used

    values = [{"kind": "ip", "value": f"192.0.2.{i}", "requests": i} for i in range(1, 41)]
    values.append({"kind": "template", "value": "t_1", "requests": 1})
    kept = _most_used(values, 25)
    assert sorted(v["requests"] for v in kept if v["kind"] == "ip") == list(range(16, 41))
    assert [v["value"] for v in kept if v["kind"] == "template"] == ["t_1"]


def test_account_requests_filter_errors_show_on_the_form(login, world):
    account = world["members"][0]
    content = login("viewer").get(reverse("accounts:requests", args=[account.pk]), {"ip": "not-an-ip"}).content.decode()
    assert "errorlist" in content and "No requests match" in content


def test_search_by_ip_finds_the_accounts(login, world):
    content = login("viewer").get(reverse("campaigns:search"), {"q": "203.0.113.7"}).content.decode()
    for account in world["members"]:
        assert account.account_id in content
    assert "request IP" in content


@pytest.mark.parametrize("query_for", [
    lambda w: "198.51.100.0/24", lambda w: "198.51.100", lambda w: "pf_shared_card",
    lambda w: w["members"][0].device_fingerprint, lambda w: "@example.com", lambda w: w["members"][0].org.value,
])
def test_search_kinds(login, world, query_for):
    content = login("viewer").get(reverse("campaigns:search"), {"q": query_for(world)}).content.decode()
    assert world["members"][0].account_id in content


def test_search_by_account_id_goes_to_the_account(login, world):
    account = world["members"][0]
    response = login("viewer").get(reverse("campaigns:search"), {"q": account.account_id})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:detail", args=[account.pk])


def test_ingest_page_shows_runs_and_rejects(login, world):
    client = login("viewer")
    assert b"requests-2026-04-01.jsonl" in client.get(reverse("ingest:index")).content
    detail = client.get(reverse("ingest:run", args=[world["run"].pk])).content.decode()
    assert "ts: no offset" in detail and "2026-04-01" in detail


def test_ingest_runs_poll_only_while_a_run_is_active(login, world):
    client = login("viewer")
    assert b"every 2s" not in client.get(reverse("ingest:runs")).content
    world["run"].status = "running"
    world["run"].save()
    assert b"every 2s" in client.get(reverse("ingest:runs")).content


def test_a_warmed_campaign_opens_without_scanning_its_members_requests(login, world):
    # Detection and every membership change queue selectors.warm; for thousands of members the
    # scan it saves took seconds, so the first analyst to open the case would wait for it.
    from campaigns import selectors

    c = world["campaign"]
    selectors.warm(c)
    client = login("viewer")
    with CaptureQueriesContext(connection) as queries:
        infra = client.get(reverse("campaigns:infra", args=[c.pk])).content.decode()
        candidates = client.get(reverse("campaigns:candidates", args=[c.pk])).content.decode()
    assert "203.0.113.7" in infra and "acct_candidate" in candidates
    assert not [q["sql"] for q in queries.captured_queries if "FROM request " in q["sql"]]


def test_the_default_timeline_window_shows_all_of_a_six_week_campaign():
    # "Whole campaign" asks for no window: a 45-day campaign lost its first three days to a
    # 42-day default; longer histories are cut to the last max_span.
    from datetime import UTC, datetime, timedelta

    from campaigns.pages import window

    first, last = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 15, 23, 59, tzinfo=UTC)
    assert window({}, first, last) == (first, datetime(2026, 5, 16, tzinfo=UTC))
    start, end = window({}, first - timedelta(days=100), last)
    assert end - start == timedelta(days=62)
