"""Every form: writes go through the services (audit trail), roles are enforced on POST,
bad input is a message, never a 500; list pages keep their query counts flat."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Campaign, Membership, Note
from ingest.models import IngestRun
from tests.factories import CampaignFactory, MembershipFactory
from tests.pages.conftest import audit_actions

pytestmark = pytest.mark.django_db


def test_link_and_unlink_with_a_reason(login, world):
    client = login("analyst")
    c = world["campaign"]
    response = client.post(reverse("campaigns:link", args=[c.pk]), {"account": "acct_candidate", "reason": "same card"})
    assert response.status_code == 302
    assert Membership.objects.get(campaign=c, account=world["candidate"]).active
    response = client.post(reverse("campaigns:unlink", args=[c.pk]), {"account": "acct_candidate", "reason": "false hit"})
    membership = Membership.objects.get(campaign=c, account=world["candidate"])
    assert not membership.active and membership.removed_reason == "false hit"
    assert audit_actions()[-2:] == ["membership.link", "membership.unlink"]


def test_link_without_a_reason_is_refused_with_a_message(login, world):
    client = login("analyst")
    c = world["campaign"]
    response = client.post(reverse("campaigns:link", args=[c.pk]), {"account": "acct_candidate", "reason": " "},
                           follow=True)
    assert response.status_code == 200 and b"reason" in response.content
    assert not Membership.objects.filter(account=world["candidate"]).exists()


def test_link_an_unknown_account_says_so(login, world):
    response = login("analyst").post(reverse("campaigns:link", args=[world["campaign"].pk]),
                                     {"account": "acct_nope", "reason": "x"}, follow=True)
    assert b"No account" in response.content


def test_link_twice_is_a_conflict_message(login, world):
    client = login("analyst")
    member = world["members"][0].account_id
    response = client.post(reverse("campaigns:link", args=[world["campaign"].pk]), {"account": member, "reason": "again"},
                           follow=True)
    assert b"already a member" in response.content


def test_change_status_needs_the_right_role(login, world):
    c = world["campaign"]
    analyst = login("analyst")
    assert analyst.post(reverse("campaigns:status", args=[c.pk]), {"status": "confirmed", "reason": "sure"}).status_code == 403
    assert analyst.post(reverse("campaigns:status", args=[c.pk]), {"status": "investigating", "reason": "looking"}).status_code == 302
    c.refresh_from_db()
    assert c.status == "investigating"
    lead = login("lead")
    assert lead.post(reverse("campaigns:status", args=[c.pk]), {"status": "confirmed", "reason": "proved"}).status_code == 302
    c.refresh_from_db()
    assert c.status == "confirmed" and audit_actions()[-1] == "campaign.status"


def test_viewer_cannot_write_anything(login, world):
    client = login("viewer")
    c, a = world["campaign"], world["members"][0]
    posts = [
        (reverse("campaigns:link", args=[c.pk]), {"account": "acct_candidate", "reason": "r"}),
        (reverse("campaigns:unlink", args=[c.pk]), {"account": a.account_id, "reason": "r"}),
        (reverse("campaigns:status", args=[c.pk]), {"status": "investigating", "reason": "r"}),
        (reverse("campaigns:note", args=[c.pk]), {"text": "hello"}),
        (reverse("campaigns:edit", args=[c.pk]), {"name": "x", "severity": "low"}),
        (reverse("campaigns:bulk_status"), {"ids": [c.pk], "status": "investigating", "reason": "r"}),
        (reverse("accounts:reveal", args=[a.pk]), {"reason": "because I want"}),
        (reverse("accounts:link", args=[a.pk]), {"campaign": world["other"].pk, "reason": "r"}),
        (reverse("ingest:upload"), {}),
        (reverse("campaigns:start_detection"), {}),
    ]
    before = audit_actions()
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert audit_actions() == before
    assert Note.objects.filter(text="hello").count() == 0


def test_get_on_a_write_url_is_405(login, world):
    assert login("analyst").get(reverse("campaigns:note", args=[world["campaign"].pk])).status_code == 405


def test_add_note_and_edit_campaign(login, world, users):
    client = login("analyst")
    c = world["campaign"]
    client.post(reverse("campaigns:note", args=[c.pk]), {"text": "Timing is flat around the clock."})
    assert Note.objects.filter(campaign=c, text="Timing is flat around the clock.").exists()
    response = client.post(reverse("campaigns:edit", args=[c.pk]), {
        "name": "Hydra one", "severity": "critical", "assignee": users["analyst"].pk, "summary": "Big one",
        "attribution": "Lab X", "reason": "triage"})
    assert response.status_code == 302
    c.refresh_from_db()
    assert (c.severity, c.assignee_id, c.attribution) == ("critical", users["analyst"].pk, "Lab X")
    assert audit_actions()[-1] == "campaign.update"


def test_editing_a_campaign_without_a_reason_is_refused_and_changes_nothing(login, world):
    c = world["campaign"]
    before = audit_actions()
    response = login("analyst").post(reverse("campaigns:edit", args=[c.pk]), {"name": "Renamed", "severity": "low"},
                                     follow=True)
    assert "reason: This field is required." in response.content.decode()
    c.refresh_from_db()
    assert c.name != "Renamed" and audit_actions() == before


def test_bulk_status_change(login, world):
    other = world["other"]
    third = CampaignFactory(name="Third", status="suspected")
    client = login("analyst")
    response = client.post(reverse("campaigns:bulk_status"), {"ids": [other.pk, third.pk], "status": "investigating",
                                                              "reason": "weekly triage"}, follow=True)
    assert response.status_code == 200
    third.refresh_from_db()
    assert third.status == "investigating"
    assert b"already investigating" in response.content  # `other` was; the rest still moved


def test_bulk_status_without_ids_is_a_message(login, world):
    response = login("analyst").post(reverse("campaigns:bulk_status"), {"status": "investigating", "reason": "x"},
                                     follow=True)
    assert b"Tick at least one campaign" in response.content


def test_reveal_personal_data_is_logged(login, world):
    client = login("analyst")
    account = world["members"][0]
    short = client.post(reverse("accounts:reveal", args=[account.pk]), {"reason": "x"}, follow=True)
    assert account.email.encode() not in short.content and b"State the reason" in short.content
    response = client.post(reverse("accounts:reveal", args=[account.pk]), {"reason": "case 17 legal request"}, follow=True)
    assert account.email.encode() in response.content and account.signup_ip.encode() in response.content
    assert b"203.0.113.7" in response.content
    from campaigns.models import AuditEvent

    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == "account.reveal" and event.reason == "case 17 legal request"
    assert event.object_id == account.account_id


def test_link_from_the_account_page(login, world):
    client = login("analyst")
    outsider = world["outsider"]
    response = client.post(reverse("accounts:link", args=[outsider.pk]), {"campaign": world["campaign"].pk,
                                                                          "reason": "same template"})
    assert response.status_code == 302
    assert Membership.objects.get(campaign=world["campaign"], account=outsider).source == "analyst"


def test_upload_saves_under_a_safe_name_and_queues_a_run(login, world, settings, tmp_path, monkeypatch):
    settings.INGEST_DIR = tmp_path
    queued = []
    monkeypatch.setattr("ingest.tasks.enqueue", lambda ids: queued.extend(ids))
    client = login("analyst")
    upload = SimpleUploadedFile("../../etc/requests 2026;rm.jsonl", b'{"request_id": "r1"}\n')
    response = client.post(reverse("ingest:upload"), {"file": upload, "kind": ""})
    assert response.status_code == 302
    run = IngestRun.objects.order_by("-id").first()
    assert run.source == "upload" and run.kind == "requests" and queued == [run.pk]
    saved = list((tmp_path / "uploads").iterdir())
    assert len(saved) == 1 and saved[0].name.endswith("requests_2026_rm.jsonl") and ".." not in saved[0].name


def test_upload_rejects_a_wrong_file_with_a_message(login, world, settings, tmp_path):
    settings.INGEST_DIR = tmp_path
    client = login("analyst")
    response = client.post(reverse("ingest:upload"), {"file": SimpleUploadedFile("notes.txt", b"hi")})
    assert response.status_code == 400 and b"Copycat reads" in response.content
    response = client.post(reverse("ingest:upload"), {"file": SimpleUploadedFile("dump.jsonl", b"{}")})
    assert response.status_code == 400 and b"Choose the record kind" in response.content
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())


HOSTILE = ["'; DROP TABLE campaign; --", "<script>alert(1)</script>", "9" * 40, "-1", "2026-13-45T99:99",
           "\x00", "%00", "a" * 500, "../../etc/passwd", "1e309", "NaN", "::1/0", "0.0.0.0/0"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_query_strings_never_500(login, world, value):
    client = login("analyst")
    c, a = world["campaign"], world["members"][0]
    gets = [
        (reverse("campaigns:list"), ["q", "status", "severity", "assignee", "min_members", "max_score", "active_after",
                                     "active_before", "ordering", "page"]),
        (reverse("campaigns:detail", args=[c.pk]), ["start", "end", "by", "mpage", "hpage", "account", "ordering", "active",
                                                     "min_confidence"]),
        (reverse("campaigns:timeline", args=[c.pk]), ["start", "end", "by"]),
        (reverse("campaigns:requests", args=[c.pk]), ["start", "end", "after"]),
        (reverse("campaigns:members", args=[c.pk]), ["account", "source", "active", "ordering", "mpage",
                                                      "min_confidence"]),
        (reverse("campaigns:candidates", args=[c.pk]), ["q"]),
        (reverse("accounts:neighbours", args=[a.pk]), ["q"]),
        (reverse("ingest:run", args=[world["run"].pk]), ["field", "reason", "page"]),
        (reverse("campaigns:search"), ["q", "page"]),
        (reverse("accounts:detail", args=[a.pk]), ["start", "end", "cursor", "ip", "model", "status_code", "spage",
                                                    "since", "until"]),
        (reverse("accounts:requests", args=[a.pk]), ["cursor", "ip", "model", "category", "since", "reasoning"]),
        (reverse("ingest:index"), ["page", "status", "kind", "path", "created_after", "has_rejections"]),
    ]
    for url, params in gets:
        response = client.get(url, {p: value for p in params})
        assert response.status_code in (200, 302), (url, response.status_code)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_form_posts_never_500(login, world, value):
    client = login("lead")
    c, a = world["campaign"], world["members"][0]
    posts = [
        (reverse("campaigns:link", args=[c.pk]), {"account": value, "reason": value}),
        (reverse("campaigns:unlink", args=[c.pk]), {"account": value, "reason": value}),
        (reverse("campaigns:status", args=[c.pk]), {"status": value, "reason": value}),
        (reverse("campaigns:edit", args=[c.pk]), {"name": value, "severity": value, "assignee": value}),
        (reverse("campaigns:note", args=[c.pk]), {"text": value}),
        (reverse("campaigns:bulk_status"), {"ids": [value], "status": value, "reason": value}),
        (reverse("accounts:reveal", args=[a.pk]), {"reason": value}),
        (reverse("accounts:link", args=[a.pk]), {"campaign": value, "reason": value}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code in (200, 302, 400, 403, 404, 409), (url, response.status_code)


def test_unknown_ids_are_404(login, world):
    client = login("analyst")
    assert client.get(reverse("campaigns:detail", args=[999999])).status_code == 404
    assert client.get(reverse("accounts:detail", args=[999999])).status_code == 404
    assert client.post(reverse("campaigns:note", args=[999999]), {"text": "x"}).status_code == 404


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_campaign_list_query_count_does_not_grow_with_rows(login, world):
    client = login("viewer")
    url = reverse("campaigns:list")
    few = _queries(client, url)
    CampaignFactory.create_batch(40)
    assert _queries(client, url) == few


def test_members_table_query_count_does_not_grow_with_rows(login, world):
    client = login("viewer")
    url = reverse("campaigns:members", args=[world["campaign"].pk])
    few = _queries(client, url)
    MembershipFactory.create_batch(20, campaign=world["campaign"])
    assert _queries(client, url) == few


def test_ingest_and_account_request_pages_query_counts_are_bounded(login, world):
    client = login("viewer")
    for _ in range(30):
        IngestRun.objects.create(path="/tmp/requests-x.jsonl", kind="requests", source="command")
    assert _queries(client, reverse("ingest:index")) <= 12
    assert _queries(client, reverse("accounts:requests", args=[world["members"][0].pk])) <= 16
    assert Campaign.objects.count() >= 2
