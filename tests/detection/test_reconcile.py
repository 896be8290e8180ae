"""Analysts' decisions win over detection, and campaigns keep their identity across runs."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Account
from campaigns import services
from campaigns.detection.service import request_detection, run_detection
from campaigns.models import AuditEvent, Campaign, DetectionRun, Membership
from tests.detection.world import background, load, ring

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lead():
    return get_user_model().objects.create_superuser("lead", "lead@example.com", "pw")


def _members(campaign) -> set[str]:
    return set(campaign.memberships.filter(active=True).values_list("account__account_id", flat=True))


def test_a_campaign_keeps_its_identity_and_new_accounts_join_it_with_one_audit_event(tmp_path):
    bg_accounts, bg_requests = background()
    accounts, requests = ring("ring", 12)
    load(tmp_path, "one", bg_accounts + accounts, bg_requests + requests)
    run_detection()
    campaign = Campaign.objects.get()
    more_accounts, more_requests = ring("late", 6, created_day=20)
    load(tmp_path, "two", more_accounts, more_requests)
    run_detection()
    assert Campaign.objects.count() == 1
    campaign.refresh_from_db()
    assert _members(campaign) == {f"ring_{i:03d}" for i in range(12)} | {f"late_{i:03d}" for i in range(6)}
    events = AuditEvent.objects.filter(campaign=campaign, action="detection.campaign_updated")
    assert events.count() == 1
    assert events.get().data["added"] == [f"late_{i:03d}" for i in range(6)]
    assert events.get().actor_name == "system"


def test_detection_never_re_adds_an_unlinked_account_nor_removes_an_analyst_added_one(tmp_path, lead):
    bg_accounts, bg_requests = background()
    accounts, requests = ring("ring", 12)
    load(tmp_path, "one", bg_accounts + accounts, bg_requests + requests)
    run_detection()
    campaign = Campaign.objects.get()
    services.unlink_account(campaign, Account.objects.get(account_id="ring_003"), user=lead, reason="a reseller client")
    services.link_account(campaign, Account.objects.get(account_id="bg_001"), user=lead, reason="same operator")
    run_detection()
    members = _members(campaign)
    assert "ring_003" not in members
    assert "bg_001" in members
    assert Membership.objects.get(campaign=campaign, account__account_id="ring_003").removed_by == lead


def test_a_dismissed_campaign_does_not_come_back_under_a_new_name(tmp_path, lead):
    bg_accounts, bg_requests = background()
    accounts, requests = ring("ring", 12)
    load(tmp_path, "one", bg_accounts + accounts, bg_requests + requests)
    run_detection()
    campaign = Campaign.objects.get()
    services.change_status(campaign, "dismissed", user=lead, reason="an evaluation partner")
    run = run_detection()
    assert Campaign.objects.count() == 1
    assert run.counts["suppressed_dismissed"] == 1


def test_request_detection_is_debounced():
    first = request_detection()
    assert first is not None and first.status == DetectionRun.Status.QUEUED
    assert request_detection() is None
    DetectionRun.objects.filter(pk=first.pk).update(status=DetectionRun.Status.DONE)
    assert request_detection() is not None


def test_a_run_through_the_worker_leaves_fresh_planner_statistics_on_what_it_wrote(tmp_path):
    # Where autovacuum is off or behind, a never-analysed membership table made the member
    # list sort every member of a campaign per page; the Celery task must refresh them too.
    from django.db import connection

    from campaigns import tasks
    from campaigns.detection.service import start_run

    accounts, requests = background()
    for k in range(4):
        more_accounts, more_requests = ring(f"r{k}", 60, card=f"fp_r{k}", template=f"tpl_r{k}", net=f"198.51.{k}")
        accounts, requests = accounts + more_accounts, requests + more_requests
    load(tmp_path, "w", accounts, requests)
    run = start_run(enqueue=False)
    tasks.detect(run.pk)
    assert DetectionRun.objects.get(pk=run.pk).status == DetectionRun.Status.DONE
    with connection.cursor() as cur:
        cur.execute("SELECT n_live_tup, greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables "
                    "WHERE relname = 'membership'")
        live, analysed = cur.fetchone()
    assert Membership.objects.filter(active=True).count() >= 240, Campaign.objects.values_list("member_count")
    assert live >= 240 and analysed is not None
