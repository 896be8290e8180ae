"""Accounts, API keys, sessions, requests (keyset), timelines and neighbours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories as f

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["account_id"] for row in response.json()["results"]]


def test_account_filters_select_the_right_accounts(api, world):
    viewer = api["viewer"]
    members = {a.account_id for a in world["members"]}
    outsider, bystander = world["outsider"].account_id, world["bystander"].account_id
    assert set(ids(viewer.get("/api/v1/accounts/?payment_fingerprint=pf_shared"))) == members
    assert set(ids(viewer.get(f"/api/v1/accounts/?campaign={world['campaign'].pk}"))) == members
    assert ids(viewer.get("/api/v1/accounts/?status=suspended")) == [bystander]
    assert ids(viewer.get("/api/v1/accounts/?country=de")) == [bystander]
    assert set(ids(viewer.get("/api/v1/accounts/?ip=203.0.113.9&active_after=2026-03-01T00:00Z"))) == members | {
        outsider}
    assert set(ids(viewer.get("/api/v1/accounts/?ip24=203.0.113.0/24"))) == members | {outsider}
    assert set(ids(viewer.get("/api/v1/accounts/?template=tpl_shared"))) == members | {outsider}
    assert ids(viewer.get("/api/v1/accounts/?template=tpl_never_seen")) == []
    assert set(ids(viewer.get("/api/v1/accounts/?model=atlas-3&category=coding"))) == members | {outsider,
                                                                                                   bystander}
    assert ids(viewer.get(f"/api/v1/accounts/?q={bystander}")) == [bystander]
    org = world["members"][0].org.value
    assert ids(viewer.get(f"/api/v1/accounts/?org={org}")) == [world["members"][0].account_id]
    signup_ip = world["members"][1].signup_ip
    assert ids(viewer.get(f"/api/v1/accounts/?signup_ip={signup_ip}")) == [world["members"][1].account_id]


def test_account_list_pages_by_cursor_without_repeats(api, world):
    seen, url = [], "/api/v1/accounts/?page_size=2&ordering=account_id"
    while url:
        body = api["viewer"].get(url).json()
        seen += [r["account_id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 5


def test_account_detail_has_campaigns_keys_and_hourly_timeline(api, world):
    account = world["members"][0]
    body = api["viewer"].get(f"/api/v1/accounts/{account.account_id}/").json()
    assert body["account_id"] == account.account_id
    assert body["campaigns"] == [{"id": world["campaign"].pk, "name": "Hydra", "status": "suspected",
                                  "source": "detection"}]
    assert body["api_key_count"] == 1
    assert [p["requests"] for p in body["timeline"]] == [10, 10, 10]


def test_account_timeline_per_day_by_model(api, world):
    account = world["members"][0].account_id
    body = api["viewer"].get(f"/api/v1/accounts/{account}/timeline/?bucket=day&by=model").json()
    assert body["points"] == [{"t": "2026-04-02T00:00:00Z", "key": "atlas-3", "requests": 30, "input_tokens": 3000,
                               "output_tokens": 6000, "reasoning_requests": 3, "error_requests": 0}]


def test_account_requests_walk_by_keyset_newest_first(api, world):
    account = world["members"][0].account_id
    seen, url = [], f"/api/v1/accounts/{account}/requests/?page_size=4"
    while url:
        body = api["viewer"].get(url).json()
        seen += [(r["ts"], r["request_id"]) for r in body["results"]]
        url = body["next"]
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)
    assert api["viewer"].get(f"/api/v1/accounts/{account}/requests/?model=atlas-3&page_size=2").json()["results"]
    body = api["viewer"].get(f"/api/v1/accounts/{account}/requests/?since=2026-04-02T03:00Z").json()
    assert len(body["results"]) == 3


def test_account_requests_query_never_uses_offset(api, world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = world["members"][0].account_id
    first = api["viewer"].get(f"/api/v1/accounts/{account}/requests/?page_size=2").json()
    with CaptureQueriesContext(connection) as queries:
        api["viewer"].get(first["next"])
    sql = " ".join(q["sql"] for q in queries.captured_queries).upper()
    assert "OFFSET" not in sql and '"REQUEST"."TS" <=' in sql


def test_neighbours_share_ip_and_template(api, world):
    account = world["members"][0].account_id
    body = api["viewer"].get(f"/api/v1/accounts/{account}/neighbours/").json()
    found = {n["account"]["account_id"]: {s["kind"] for s in n["shared"]} for n in body["results"]}
    assert world["outsider"].account_id in found
    assert {"ip", "template"} <= found[world["outsider"].account_id]
    assert "payment_fingerprint" in found[world["members"][1].account_id]
    assert world["bystander"].account_id not in found


def _template_world(uses: dict[str, list[int]]):
    """Accounts by name sending one template on the given days after T0."""
    from accounts.models import PromptTemplate
    from tests.api.conftest import add_requests

    model, template = f.ModelNameFactory(value="atlas-9"), PromptTemplate.objects.create(value="tpl_rare")
    accounts = {name: f.AccountFactory() for name in uses}
    add_requests([{"request_id": f"req_{name}_{day}", "ts": f.T0 + timedelta(days=day, hours=1),
                   "account": accounts[name], "model": model, "template": template.pk}
                  for name, days in uses.items() for day in days])
    return accounts, [{"kind": "template", "value": "tpl_rare", "lookup_id": template.pk}]


def test_template_sharers_are_counted_in_the_window_only():
    from accounts.selectors import accounts_sharing_traffic

    # "gap" used the template before and after the window but not in it: its first and last
    # use span the window, so the rollup names it, and the count in the window drops it.
    accounts, values = _template_world({"me": [10], "near": [9, 9, 12], "gap": [1, 20], "late": [30]})
    found = accounts_sharing_traffic(values, f.T0 + timedelta(days=7), f.T0 + timedelta(days=11),
                                     exclude={accounts["me"].pk})
    assert [(r["account_pk"], r["value"], r["requests"]) for r in found] == [(accounts["near"].pk, "tpl_rare", 2)]


def test_a_template_used_by_too_many_accounts_is_not_pivoted_on():
    from accounts.selectors import accounts_sharing_traffic

    accounts, values = _template_world({"me": [3], "a": [3], "b": [4]})
    window = (f.T0, f.T0 + timedelta(days=7))
    assert accounts_sharing_traffic(values, *window, exclude={accounts["me"].pk}, max_accounts=2) == []
    found = accounts_sharing_traffic(values, *window, exclude={accounts["me"].pk}, max_accounts=3)
    assert sorted(r["account_pk"] for r in found) == sorted([accounts["a"].pk, accounts["b"].pk])


def test_api_keys_and_sessions_filter_by_account_and_campaign(api, world):
    account = world["members"][0].account_id
    keys = api["viewer"].get(f"/api/v1/api-keys/?account={account}").json()["results"]
    assert [k["account"] for k in keys] == [account]
    assert len(api["viewer"].get(f"/api/v1/api-keys/?campaign={world['campaign'].pk}").json()["results"]) == 3
    key = keys[0]["key_id"]
    assert api["viewer"].get(f"/api/v1/api-keys/{key}/").json()["key_id"] == key
    sessions = api["viewer"].get(f"/api/v1/sessions/?account={account}").json()["results"]
    assert len(sessions) == 1 and sessions[0]["account"] == account
    assert api["viewer"].get(f"/api/v1/sessions/{sessions[0]['id']}/").status_code == 200
    assert api["viewer"].get("/api/v1/sessions/?account=acct_nobody").json()["results"] == []


@pytest.mark.parametrize("url, queries", [
    ("/api/v1/accounts/", 3),       # token with its role names + count-free page + (none for org: joined)
    ("/api/v1/api-keys/", 3),
    ("/api/v1/sessions/", 3),
])
def test_account_lists_have_a_fixed_query_count(api, world, django_assert_max_num_queries, url, queries):
    for _ in range(10):
        f.SessionFactory(account=f.AccountFactory())
        f.ApiKeyFactory()
    with django_assert_max_num_queries(queries):
        response = api["viewer"].get(url)
    assert response.status_code == 200 and len(response.json()["results"]) >= 10


def test_a_token_call_reads_the_role_with_the_token_and_sees_a_role_change_on_the_next_call(api, users):
    from django.contrib.auth.models import Group

    client = api["viewer"]
    assert client.get("/api/v1/campaigns/").status_code == 200
    users["viewer"].groups.clear()  # nothing is cached across calls: the next one has no role
    response = client.get("/api/v1/campaigns/")
    assert response.status_code == 403 and "no Copycat role" in response.json()["error"]
    users["viewer"].groups.add(Group.objects.get(name="viewer"))
    assert client.get("/api/v1/campaigns/").status_code == 200
    users["viewer"].is_active = False
    users["viewer"].save()
    assert client.get("/api/v1/campaigns/").status_code == 401


def test_personal_data_is_masked_in_every_api_read_as_on_the_pages(api, world):
    member = world["members"][0]
    for role in ("viewer", "analyst", "lead"):
        listed = api[role].get("/api/v1/accounts/?payment_fingerprint=pf_shared")
        detail = api[role].get(f"/api/v1/accounts/{member.account_id}/")
        requests = api[role].get(f"/api/v1/accounts/{member.account_id}/requests/")
        neighbours = api[role].get(f"/api/v1/accounts/{member.account_id}/neighbours/")
        for response in (listed, detail, requests, neighbours):
            assert response.status_code == 200
            body = response.content.decode()
            assert member.email not in body and str(member.signup_ip) not in body and "203.0.113.9" not in body
    row = next(r for r in listed.json()["results"] if r["account_id"] == member.account_id)
    assert row["email"].startswith(member.email[0] + "•••@example.com (#")
    assert row["signup_ip"].startswith(".".join(str(member.signup_ip).split(".")[:3]) + ".••• (#")
    ips = [r["ip"] for r in requests.json()["results"]]
    assert ips and all(ip.startswith("203.0.113.••• (#") for ip in ips)
    shared = [s for n in neighbours.json()["results"] for s in n["shared"] if s["kind"] == "ip"]
    assert shared and all(s["value"].startswith("203.0.113.••• (#") for s in shared)


def test_reveal_needs_the_analyst_role_and_a_reason_and_is_audited(api, world):
    from campaigns.models import AuditEvent

    member = world["members"][0]
    url = f"/api/v1/accounts/{member.account_id}/reveal/"
    refused = api["viewer"].post(url, {}, format="json")  # the role is checked before the body
    assert refused.status_code == 403 and "analyst" in refused.json()["error"]
    missing = api["analyst"].post(url, {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"].startswith("reason:")
    assert not AuditEvent.objects.filter(action="account.reveal").exists()
    response = api["analyst"].post(url, {"reason": "ticket T-42: legal hold"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == member.email and body["signup_ip"] == str(member.signup_ip)
    assert body["ips"] == [{"ip": "203.0.113.9", "requests": 6}]
    event = AuditEvent.objects.get(action="account.reveal")
    assert event.object_id == member.account_id and event.reason == "ticket T-42: legal hold"
    assert event.actor_name == "analyst-user"
    assert api["analyst"].post("/api/v1/accounts/acct_nobody/reveal/", {"reason": "x"},
                               format="json").status_code == 404


def test_request_pages_with_lookup_values_and_an_empty_member_set(world):
    """The lookup values come from the outer query of keyset_requests; a campaign without
    active members gives an empty page, not an error."""
    from datetime import UTC, datetime

    from accounts import selectors
    from campaigns import selectors as campaign_selectors
    from tests.factories import CampaignFactory

    page = selectors.account_requests(world["members"][0], limit=2)
    assert len(page.rows) == 2 and page.next_cursor
    assert {r.model_value for r in page.rows} == {"atlas-3"}
    empty = campaign_selectors.campaign_requests(CampaignFactory(), datetime(2026, 1, 1, tzinfo=UTC),
                                                 datetime(2027, 1, 1, tzinfo=UTC))
    assert empty.rows == [] and empty.next_cursor is None


def test_a_yes_no_filter_refuses_other_values_instead_of_ignoring_them(api, world):
    account = world["members"][0].account_id
    base = f"/api/v1/accounts/{account}/requests/"
    response = api["viewer"].get(base + "?reasoning=maybe")
    assert response.status_code == 400
    assert response.json()["error"] == "reasoning: 'maybe' is not a yes/no value; give true or false."
    from accounts.models import Request

    rows = Request.objects.filter(account_id=world["members"][0].pk)
    rows.update(reasoning_requested=False)
    rows.filter(request_id=rows.order_by("request_id").values("request_id")[:1]).update(reasoning_requested=True)

    def count(query=""):
        return len(api["viewer"].get(base + query).json()["results"])

    assert (count("?reasoning=true"), count("?reasoning=false"), count()) == (1, 5, 6)
    assert count("?reasoning=1") == count("?reasoning=true") and count("?reasoning=no") == count("?reasoning=false")
    assert api["viewer"].get("/api/v1/accounts/?placeholder=sometimes").status_code == 400
