"""Campaign reads and writes: roles decide, the audit trail records who, when and why."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from campaigns.models import AuditEvent, Campaign, Membership
from tests import factories as f

pytestmark = pytest.mark.django_db


def last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


def assert_audited(action: str, user, reason: str) -> AuditEvent:
    event = last_event(action)
    assert event is not None, f"no {action} in the audit trail"
    assert event.actor_name == user and event.reason == reason
    assert abs((timezone.now() - event.at).total_seconds()) < 60
    return event


def test_campaign_list_filters_sorts_and_searches(api, world):
    f.CampaignFactory(name="Quiet one", status="dismissed", severity="low", score=5.0)
    viewer = api["viewer"]
    names = lambda url: [c["name"] for c in viewer.get(url).json()["results"]]
    assert names("/api/v1/campaigns/") == ["Hydra", "Quiet one"]
    assert names("/api/v1/campaigns/?ordering=score") == ["Quiet one", "Hydra"]
    assert names("/api/v1/campaigns/?status=dismissed") == ["Quiet one"]
    assert names("/api/v1/campaigns/?status=dismissed&status=suspected") == ["Hydra", "Quiet one"]
    assert names("/api/v1/campaigns/?q=hydr") == ["Hydra"]
    assert names(f"/api/v1/campaigns/?account={world['members'][0].account_id}") == ["Hydra"]
    assert names("/api/v1/campaigns/?min_score=50") == ["Hydra"]
    assert names("/api/v1/campaigns/?assignee=none") == ["Hydra", "Quiet one"]


def test_campaign_detail(api, world):
    body = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/").json()
    assert body["name"] == "Hydra" and body["member_count"] == 3 and "explanation" in body


def test_campaign_list_has_a_fixed_query_count(api, world, django_assert_max_num_queries):
    for _ in range(15):
        f.CampaignFactory(assignee=f.UserFactory())
    with django_assert_max_num_queries(3):
        response = api["viewer"].get("/api/v1/campaigns/")
    assert len(response.json()["results"]) == 16


def test_member_list_has_a_fixed_query_count(api, world, django_assert_max_num_queries):
    for _ in range(15):
        f.MembershipFactory(campaign=world["campaign"], added_by=f.UserFactory())
    with django_assert_max_num_queries(4):
        response = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/members/")
    assert len(response.json()["results"]) == 18


def test_link_then_link_again_is_409_and_audited(api, world):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/members/"
    outsider = world["outsider"].account_id
    response = api["analyst"].post(url, {"account": outsider, "reason": "shares the proxy"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["account"]["account_id"] == outsider and response.json()["source"] == "analyst"
    assert_audited("membership.link", "analyst-user", "shares the proxy")
    again = api["analyst"].post(url, {"account": outsider, "reason": "again"}, format="json")
    assert again.status_code == 409 and "already a member" in again.json()["error"]


def test_link_needs_a_reason_and_a_known_account(api, world):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/members/"
    response = api["analyst"].post(url, {"account": world["outsider"].account_id, "reason": "  "}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"].lower()
    response = api["analyst"].post(url, {"account": "acct_nobody", "reason": "x"}, format="json")
    assert response.status_code == 400 and "acct_nobody" in response.json()["error"]
    response = api["analyst"].post(url, {"reason": "x"}, format="json")
    assert response.status_code == 400 and "account" in response.json()["detail"]


def test_unlink_keeps_the_membership_with_who_and_why(api, world):
    member = world["members"][0].account_id
    url = f"/api/v1/campaigns/{world['campaign'].pk}/members/{member}/unlink/"
    response = api["analyst"].post(url, {"reason": "corporate NAT"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active"] is False and body["removed_by"] == "analyst-user" and body["removed_reason"] == "corporate NAT"
    assert_audited("membership.unlink", "analyst-user", "corporate NAT")
    assert api["analyst"].post(url, {"reason": "again"}, format="json").status_code == 409
    listed = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/members/?active=false").json()
    assert [m["account"]["account_id"] for m in listed["results"]] == [member]
    missing = api["analyst"].post(f"/api/v1/campaigns/{world['campaign'].pk}/members/acct_nobody/unlink/",
                                  {"reason": "x"}, format="json")
    assert missing.status_code == 404


def test_bulk_link_and_unlink_is_all_or_nothing(api, world):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/members/bulk/"
    extra = f.AccountFactory().account_id
    outsider, member = world["outsider"].account_id, world["members"][0].account_id
    # One account already a member: the whole call is refused, nothing changes.
    response = api["analyst"].post(url, {"link": [outsider, world["members"][1].account_id], "reason": "batch"},
                                   format="json")
    assert response.status_code == 409
    assert not Membership.objects.filter(account=world["outsider"]).exists()
    response = api["analyst"].post(url, {"link": [outsider, extra], "unlink": [member], "reason": "batch"},
                                   format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"linked": [outsider, extra], "unlinked": [member]}
    assert AuditEvent.objects.filter(action__startswith="membership.", reason="batch",
                                     actor_name="analyst-user").count() == 3
    assert api["analyst"].post(url, {"link": ["acct_nobody"], "reason": "x"}, format="json").status_code == 400
    assert api["analyst"].post(url, {"reason": "x"}, format="json").status_code == 400


def test_patch_changes_fields_with_a_reason(api, world, users):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/"
    response = api["analyst"].patch(url, {"severity": "high", "assignee": "lead-user", "summary": "Proxy ring",
                                          "reason": "triage"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["severity"] == "high" and response.json()["assignee"] == "lead-user"
    event = assert_audited("campaign.update", "analyst-user", "triage")
    assert event.data["severity"] == {"from": "medium", "to": "high"}
    assert api["analyst"].patch(url, {"severity": "apocalyptic", "reason": "x"}, format="json").status_code == 400
    assert api["analyst"].patch(url, {"assignee": "ghost", "reason": "x"}, format="json").status_code == 400
    assert api["analyst"].patch(url, {"reason": "x"}, format="json").status_code == 400
    assert api["analyst"].patch(url, {"severity": "low"}, format="json").status_code == 400
    assert api["analyst"].put(url, {"severity": "low", "reason": "x"}, format="json").status_code == 405


def test_status_change_audited_and_same_status_is_409(api, world):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/status/"
    response = api["lead"].post(url, {"status": "confirmed", "reason": "payment ring proven"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "confirmed"
    event = assert_audited("campaign.status", "lead-user", "payment ring proven")
    assert event.data == {"from": "suspected", "to": "confirmed"}
    assert api["lead"].post(url, {"status": "confirmed", "reason": "again"}, format="json").status_code == 409
    assert api["lead"].post(url, {"status": "sleeping", "reason": "x"}, format="json").status_code == 400


WRITES = [
    # (action, method, path, body, lowest role allowed)
    ("link", "post", "members/", {"account": "{outsider}", "reason": "r"}, "analyst"),
    ("bulk", "post", "members/bulk/", {"link": ["{outsider}"], "reason": "r"}, "analyst"),
    ("unlink", "post", "members/{member}/unlink/", {"reason": "r"}, "analyst"),
    ("note", "post", "notes/", {"text": "seen before"}, "analyst"),
    ("edit", "patch", "", {"summary": "s", "reason": "r"}, "analyst"),
    ("investigate", "post", "status/", {"status": "investigating", "reason": "r"}, "analyst"),
    ("confirm", "post", "status/", {"status": "confirmed", "reason": "r"}, "lead"),
    ("dismiss", "post", "status/", {"status": "dismissed", "reason": "r"}, "lead"),
]
RANK = {"viewer": 0, "analyst": 1, "lead": 2, "admin": 3}


@pytest.mark.parametrize("role", ["viewer", "analyst", "lead", "admin"])
@pytest.mark.parametrize("name, method, path, body, needs", WRITES, ids=[w[0] for w in WRITES])
def test_role_by_write_action(api, world, role, name, method, path, body, needs):
    fill = {"outsider": world["outsider"].account_id, "member": world["members"][0].account_id}
    body = {k: ([x.format(**fill) for x in v] if isinstance(v, list) else v.format(**fill)) for k, v in body.items()}
    url = f"/api/v1/campaigns/{world['campaign'].pk}/{path.format(**fill)}"
    before = AuditEvent.objects.count()
    response = getattr(api[role], method)(url, body, format="json")
    if RANK[role] >= RANK[needs]:
        assert response.status_code in (200, 201), response.content
        assert AuditEvent.objects.count() > before
        assert AuditEvent.objects.order_by("-id").first().actor_name == f"{role}-user"
    else:
        assert response.status_code == 403, response.content
        assert f"needs the {needs} role" in response.json()["error"]
        assert AuditEvent.objects.count() == before


def test_notes_list_and_add(api, world):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/notes/"
    response = api["analyst"].post(url, {"text": "Same template as case 12"}, format="json")
    assert response.status_code == 201 and response.json()["author"] == "analyst-user"
    event = last_event("note.add")
    assert event.actor_name == "analyst-user" and event.data["text"] == "Same template as case 12"
    assert [n["text"] for n in api["viewer"].get(url).json()["results"]] == ["Same template as case 12"]
    assert api["analyst"].post(url, {"text": ""}, format="json").status_code == 400


def test_campaign_timeline_by_category_per_hour_and_day(api, world):
    base = f"/api/v1/campaigns/{world['campaign'].pk}/timeline/"
    hourly = api["viewer"].get(base + "?by=category").json()
    assert hourly["bucket"] == "hour" and {p["key"] for p in hourly["points"]} == {"coding"}
    assert sum(p["requests"] for p in hourly["points"]) == 90
    daily = api["viewer"].get(base + "?bucket=day").json()["points"]
    assert len(daily) == 1 and daily[0]["requests"] == 90 and daily[0]["key"] is None


def test_campaign_timeline_json_is_cached_with_the_points_and_moves_with_the_members(api, world):
    """JSON clients get the points' cached JSON; the browsable API serialises them itself. Both
    say the same, and an unlink (which refreshes the figures in the cache key) shows at once."""
    base = f"/api/v1/campaigns/{world['campaign'].pk}/timeline/?by=category"
    as_json = api["viewer"].get(base).json()
    assert as_json == api["viewer"].get(base).json()  # the second answer comes from the cache
    html = api["viewer"].get(base, HTTP_ACCEPT="text/html").content.decode()
    assert html.count("&quot;requests&quot;:") == len(as_json["points"]) > 0  # (HTML-escaped JSON)
    api["analyst"].post(f"/api/v1/campaigns/{world['campaign'].pk}/members/{world['members'][0].account_id}/unlink/",
                        {"reason": "not theirs"}, format="json")
    after = api["viewer"].get(base).json()
    assert sum(p["requests"] for p in after["points"]) == 60


def test_infrastructure_counts_shared_values(api, world):
    body = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/infrastructure/").json()
    kinds = body["kinds"]
    assert body["members"] == 3
    assert kinds["payment_fingerprint"][0] == {"value": "pf_shared", "accounts": 3, "requests": None,
                                               "total_accounts": 3}
    assert kinds["ip"][0]["value"] == "203.0.113.9" and kinds["ip"][0]["accounts"] == 3
    assert kinds["ip24"][0]["value"] == "203.0.113.0/24"
    assert kinds["template"][0] == {"value": "tpl_shared", "accounts": 3, "requests": 18, "total_accounts": None}
    assert kinds["asn"][0]["value"] == "64500"


def test_candidates_are_unlinked_accounts_sharing_rare_values(api, world):
    body = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/candidates/").json()
    found = [c["account"]["account_id"] for c in body["results"]]
    assert found == [world["outsider"].account_id]
    assert {s["kind"] for s in body["results"][0]["shared"]} >= {"ip", "template"}


def test_signals_list(api, world):
    f.SignalFactory(campaign=world["campaign"], kind="template_hash", value="tpl_shared", weight=2.0)
    f.SignalFactory(campaign=world["campaign"], weight=1.0)
    body = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/signals/").json()
    assert [s["kind"] for s in body["results"]] == ["template_hash", "payment_fingerprint"]
    body = api["viewer"].get(f"/api/v1/campaigns/{world['campaign'].pk}/signals/?kind=template_hash").json()
    assert len(body["results"]) == 1


def test_blocklist_only_for_confirmed_campaigns_in_json_and_csv(api, world):
    url = f"/api/v1/campaigns/{world['campaign'].pk}/blocklist/"
    response = api["viewer"].get(url)
    assert response.status_code == 409 and "confirmed" in response.json()["error"]
    Campaign.objects.filter(pk=world["campaign"].pk).update(status=Campaign.Status.CONFIRMED)
    body = api["viewer"].get(url).json()
    assert body["account_ids"] == sorted(a.account_id for a in world["members"])
    assert len(body["api_key_ids"]) == 3 and body["payment_fingerprints"] == ["pf_shared"]
    assert len(body["device_fingerprints"]) == 3
    # The proxy IP is also used by the outsider: blocking it would hit a bystander.
    assert body["ips"] == []
    response = api["viewer"].get(url + "?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["kind", "value"] and ["payment_fingerprint", "pf_shared"] in rows
    assert sum(1 for r in rows if r[0] == "account") == 3
    # Errors stay JSON when CSV was asked for.
    Campaign.objects.filter(pk=world["campaign"].pk).update(status=Campaign.Status.SUSPECTED)
    for bad_url, code in ((url + "?format=csv", 409), ("/api/v1/campaigns/999999/blocklist/?format=csv", 404)):
        response = api["viewer"].get(bad_url)
        assert response.status_code == code and response["Content-Type"].startswith("application/json")
        assert response.json()["error"]


def test_audit_trail_is_read_only_and_filterable(api, world):
    api["analyst"].post(f"/api/v1/campaigns/{world['campaign'].pk}/notes/", {"text": "n"}, format="json")
    body = api["viewer"].get(f"/api/v1/audit/?campaign={world['campaign'].pk}&actor=analyst-user").json()
    assert [e["action"] for e in body["results"]] == ["note.add"]
    event_id = body["results"][0]["id"]
    assert api["viewer"].get(f"/api/v1/audit/{event_id}/").json()["hash"]
    assert api["admin"].post("/api/v1/audit/", {}, format="json").status_code == 405
    assert api["admin"].delete(f"/api/v1/audit/{event_id}/").status_code == 405


def test_audit_list_has_a_fixed_query_count(api, world, django_assert_max_num_queries):
    for i in range(10):
        api["analyst"].post(f"/api/v1/campaigns/{world['campaign'].pk}/notes/", {"text": f"n{i}"}, format="json")
    with django_assert_max_num_queries(2):
        response = api["viewer"].get("/api/v1/audit/")
    assert len(response.json()["results"]) == 10


def test_me_names_the_role_and_allowed_writes(api):
    body = api["lead"].get("/api/v1/me/").json()
    assert body["role"] == "lead" and "status_confirmed" in body["may"] and "manage_users" not in body["may"]


def test_a_viewer_is_refused_a_write_before_its_body_is_checked(api, world):
    campaign, member = world["campaign"].pk, world["members"][0].account_id
    for method, url in (("patch", f"/api/v1/campaigns/{campaign}/"),
                        ("post", f"/api/v1/campaigns/{campaign}/members/"),
                        ("post", f"/api/v1/campaigns/{campaign}/members/{member}/unlink/"),
                        ("post", f"/api/v1/campaigns/{campaign}/members/bulk/"),
                        ("post", f"/api/v1/campaigns/{campaign}/notes/")):
        response = getattr(api["viewer"], method)(url, {"severity": "low"}, format="json")  # no reason
        assert response.status_code == 403, (url, response.content)
        assert response.json()["error"] == "This needs the analyst role (you have: viewer)."
    assert api["analyst"].patch(f"/api/v1/campaigns/{campaign}/", {"severity": "low"},
                                format="json").status_code == 400  # an analyst is told what is missing


def walk_pages(client, url: str) -> list[dict]:
    rows = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        rows += response.json()["results"]
        url = response.json()["next"]
    return rows


@pytest.mark.parametrize("name, key", [
    ("requests", lambda m: (m["account"]["request_count"], m["id"])),
    ("last_request", lambda m: (m["account"]["last_request_at"] or "", m["id"])),
    ("account", lambda m: (m["account"]["account_id"], m["id"])),
    ("added", lambda m: (m["added_at"], m["id"])),
    ("confidence", lambda m: (m["confidence"], m["id"])),
])
@pytest.mark.parametrize("descending", [False, True])
def test_member_sorts_page_through_every_member_once_in_order(api, world, name, key, descending):
    """Each sort the filterset offers pages with one row a page, over ties and over members
    whose account has no request yet (NULL last request, sorted as the oldest)."""
    campaign = world["campaign"]
    for i in range(4):
        account = f.AccountFactory(request_count=10 * (i % 2), last_request_at=None if i < 2 else f.T0)
        f.MembershipFactory(campaign=campaign, account=account, confidence=0.5)
    rows = walk_pages(api["viewer"], f"/api/v1/campaigns/{campaign.pk}/members/?page_size=1&ordering="
                                     f"{'-' if descending else ''}{name}")
    assert len(rows) == len({r["id"] for r in rows}) == 7
    first = [key(r)[0] for r in rows]
    assert first == sorted(first, reverse=descending)


def test_campaigns_page_through_a_sort_key_that_may_be_empty(api, world):
    for _ in range(3):
        f.CampaignFactory(last_activity=None, first_activity=None)
    for order in ("last_activity", "-last_activity"):
        rows = walk_pages(api["viewer"], f"/api/v1/campaigns/?page_size=1&ordering={order}")
        assert len(rows) == len({r["id"] for r in rows}) == 4
        empty_first = [r["last_activity"] is None for r in rows]
        assert empty_first == sorted(empty_first, reverse=order == "last_activity")


def walk_back(client, url: str) -> list[dict]:
    """The rows from the last page of ``url`` back to the first, through `previous` links."""
    while True:
        body = client.get(url).json()
        if not body["next"]:
            break
        url = body["next"]
    pages = []
    while url:
        body = client.get(url).json()
        pages.insert(0, body["results"])
        url = body["previous"]
    return [row for page in pages for row in page]


@pytest.mark.parametrize("ordering", ["confidence", "-added", "requests", "-last_request"])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_member_pages_walk_back_over_ties_to_the_same_rows(api, world, ordering, size):
    """Going back through `previous` gives the rows going forward gave, ties included (DRF's
    cursor kept one sort value and an offset, which repeats and skips rows walking back)."""
    campaign = world["campaign"]
    for i in range(5):
        account = f.AccountFactory(request_count=10, last_request_at=None if i % 2 else f.T0)
        f.MembershipFactory(campaign=campaign, account=account, confidence=0.5)
    url = f"/api/v1/campaigns/{campaign.pk}/members/?page_size={size}&ordering={ordering}"
    forward = walk_pages(api["viewer"], url)
    assert len(forward) == 8
    assert [r["id"] for r in walk_back(api["viewer"], url)] == [r["id"] for r in forward]


@pytest.mark.parametrize("cursor", [
    "garbage", "!!!!", "%00", "cD1hYmM%3D",  # p=abc on a number
    "cD0xJnA9MiZwPTM%3D",  # three values for a two-key sort
])
def test_hand_made_cursors_are_400(api, world, cursor):
    response = api["viewer"].get(f"/api/v1/campaigns/?cursor={cursor}")
    assert response.status_code == 400 and "cursor" in response.json()["error"].lower(), response.content


@pytest.mark.parametrize("url", [
    "/api/v1/accounts/?ordering=,", "/api/v1/campaigns/?ordering=%2C%2C", "/api/v1/campaigns/?q=%C2%B2",
])
def test_odd_but_harmless_parameters_answer_200(api, world, url):
    assert api["viewer"].get(url).status_code == 200


def test_status_and_packet_writes_check_the_role_before_the_body(api, world):
    campaign = world["campaign"].pk
    for path, body in (("status/", {}), ("status/", "{not json"), ("packets/", {})):
        kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else \
            {"data": body, "format": "json"}
        response = api["viewer"].post(f"/api/v1/campaigns/{campaign}/{path}", **kwargs)
        assert response.status_code == 403 and "role" in response.json()["error"], (path, response.content)
    response = api["analyst"].post(f"/api/v1/campaigns/{campaign}/status/", data="{not json",
                                   content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.json()["error"]
