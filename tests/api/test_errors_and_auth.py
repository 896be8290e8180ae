"""Errors are JSON that say what to fix, with the right status; never a 500 for bad input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, contains: str = "") -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"]
    assert contains.lower() in body["error"].lower(), body["error"]
    return body


def test_no_token_is_401_with_how_to_authenticate(api):
    body = assert_error(api[None].get("/api/v1/accounts/"), 401, "Authorization: Token")
    assert body["detail"] is None


def test_bad_token_is_401(api):
    api[None].credentials(HTTP_AUTHORIZATION="Token nope")
    assert_error(api[None].get("/api/v1/campaigns/"), 401, "invalid token")


def test_user_without_a_role_is_403(api):
    assert_error(api["norole"].get("/api/v1/campaigns/"), 403, "no Copycat role")


def test_health_needs_no_token(api):
    assert api[None].get("/api/v1/health/").json() == {"ok": True}


@pytest.mark.parametrize("url, field", [
    ("/api/v1/accounts/?status=bogus", "status"),
    ("/api/v1/campaigns/?status=nope", "status"),
    ("/api/v1/campaigns/?severity=extreme", "severity"),
    ("/api/v1/campaigns/?ordering=password", "ordering"),
    ("/api/v1/ingest/runs/?kind=videos", "kind"),
    ("/api/v1/detection-runs/?status=sleeping", "status"),
    ("/api/v1/accounts/?ip=300.1.1.1", "ip"),
    ("/api/v1/accounts/?ip24=10.0.0.0/16", "ip24"),
    ("/api/v1/accounts/?country=USA", "country"),
    ("/api/v1/accounts/?campaign=abc", "campaign"),
    ("/api/v1/accounts/?min_requests=lots", "min_requests"),
    ("/api/v1/accounts/?campaign=1.5", "campaign"),
    ("/api/v1/accounts/?min_requests=99999999999999999999", "min_requests"),
    ("/api/v1/campaigns/?min_members=2.5", "min_members"),
])
def test_unknown_or_malformed_filter_values_are_400_naming_the_field(api, url, field):
    body = assert_error(api["viewer"].get(url), 400, field)
    assert field in body["detail"]


def test_unknown_filter_name_is_400_listing_the_filters(api):
    body = assert_error(api["viewer"].get("/api/v1/campaigns/?stauts=confirmed"), 400, "unknown filter 'stauts'")
    assert "status" in body["error"]


@pytest.mark.parametrize("url", [
    "/api/v1/accounts/?active_after=yesterday",
    "/api/v1/campaigns/?active_after=2026-13-45",
    "/api/v1/audit/?after=31/12/2026",
    "/api/v1/ingest/runs/?created_before=soon",
])
def test_bad_dates_are_400(api, url):
    assert_error(api["viewer"].get(url), 400, "valid date")


def test_bad_dates_in_timeline_and_window_queries_are_400(api, world):
    campaign = world["campaign"].pk
    assert_error(api["viewer"].get(f"/api/v1/campaigns/{campaign}/timeline/?since=notadate"), 400, "since")
    assert_error(api["viewer"].get(f"/api/v1/campaigns/{campaign}/infrastructure/?until=xx"), 400, "until")
    assert_error(api["viewer"].get(f"/api/v1/campaigns/{campaign}/timeline/?since=2026-05-02T00:00Z"
                                   "&until=2026-05-01T00:00Z"), 400, "after since")
    assert_error(api["viewer"].get(f"/api/v1/campaigns/{campaign}/timeline/?bucket=week"), 400, "bucket")


@pytest.mark.parametrize("url", [
    "/api/v1/campaigns/abc/", "/api/v1/campaigns/1.5/", "/api/v1/campaigns/-3/",
    "/api/v1/campaigns/99999999999999999999/", "/api/v1/ingest/runs/x/", "/api/v1/audit/%20/",
    "/api/v1/detection-runs/1e3/", "/api/v1/packets/abc/", "/api/v1/sessions/zz/",
    "/api/v1/accounts/bad%20id!/",
])
def test_malformed_ids_are_400(api, url):
    assert_error(api["viewer"].get(url), 400, "")


@pytest.mark.parametrize("url", [
    "/api/v1/campaigns/424242/", "/api/v1/ingest/runs/424242/", "/api/v1/audit/424242/",
    "/api/v1/accounts/acct_nobody/", "/api/v1/api-keys/key_nobody/", "/api/v1/packets/424242/",
    "/api/v1/detection-runs/424242/", "/api/v1/no-such-endpoint/",
])
def test_missing_objects_and_paths_are_json_404(api, url):
    assert_error(api["viewer"].get(url), 404, "")


def test_bad_cursor_and_page_size_are_400(api, world):
    assert_error(api["viewer"].get("/api/v1/accounts/?cursor=garbage"), 400, "cursor")
    assert_error(api["viewer"].get("/api/v1/accounts/?page_size=0"), 400, "page size")
    assert_error(api["viewer"].get("/api/v1/accounts/?page_size=ten"), 400, "page_size")
    account = world["members"][0].account_id
    assert_error(api["viewer"].get(f"/api/v1/accounts/{account}/requests/?cursor=%%%"), 400, "cursor")


def test_malformed_json_body_is_400(api, world):
    response = api["analyst"].post(f"/api/v1/campaigns/{world['campaign'].pk}/notes/", data="{not json",
                                   content_type="application/json")
    assert_error(response, 400, "JSON")


def test_method_not_allowed_is_json(api, world):
    assert_error(api["admin"].delete(f"/api/v1/campaigns/{world['campaign'].pk}/"), 405, "not allowed")


def test_a_bad_choice_or_an_unknown_parameter_is_answered_with_what_to_send(api, world):
    viewer, campaign = api["viewer"], world["campaign"].pk
    error = viewer.get("/api/v1/accounts/?status=bogus").json()["error"]
    assert error.startswith("status: Select a valid choice.") and "Use one of: active," in error
    error = viewer.get("/api/v1/campaigns/?status=nope").json()["error"]
    assert "Use one of: suspected, investigating, confirmed" in error
    response = viewer.get(f"/api/v1/campaigns/{campaign}/timeline/?bucket=week")
    assert response.status_code == 400
    assert response.json()["error"] == 'bucket: "week" is not a bucket; use one of: hour, day.'
    for url in (f"/api/v1/campaigns/{campaign}/timeline/?foo=1", f"/api/v1/campaigns/{campaign}/infrastructure/?foo=1",
                f"/api/v1/campaigns/{campaign}/candidates/?foo=1",
                f"/api/v1/accounts/{world['members'][0].account_id}/timeline/?foo=1"):
        response = viewer.get(url)
        assert response.status_code == 400 and response.json()["error"].startswith("foo: Unknown parameter 'foo'")


def test_unknown_format_is_400_naming_the_formats(api, world):
    body = assert_error(api["viewer"].get("/api/v1/campaigns/?format=yaml"), 400, "unknown format 'yaml'")
    assert "json" in body["error"]


def test_schema_errors_are_json(api):
    response = api[None].get("/api/v1/schema/")
    assert response.status_code == 401 and response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("url", [
    "/api/v1/campaigns/+1/", "/api/v1/campaigns/%D9%A1/", "/api/v1/campaigns/1%0A/",
    "/api/v1/accounts/acct_1%0A/", "/api/v1/accounts/{account}/requests/?page_size=%C2%B2",
])
def test_odd_ids_and_numbers_are_400(api, world, url):
    response = api["viewer"].get(url.format(account=world["members"][0].account_id))
    assert response.status_code == 400, response.content
    assert response.json()["error"]
