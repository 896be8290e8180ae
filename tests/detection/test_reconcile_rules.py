"""The reconciliation rules, one by one, on groups given directly (no clustering in between), and
campaign figures that agree with a computation from the accounts' own rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max, Min, Sum

from accounts.models import Account, AccountHour
from campaigns import services
from campaigns.detection.reconcile import DetectedGroup, reconcile
from campaigns.detection.service import start_run
from campaigns.models import AuditEvent, Campaign, Membership
from tests.factories import T0, AccountFactory, AccountHourFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    made = AccountFactory.create_batch(12)
    chat = CategoryFactory(value="chat")
    for i, account in enumerate(made):
        for h in range(i % 3 + 1):
            # Several members in the same hour: the rollup's account count is what tests DISTINCT.
            AccountHourFactory(account=account, hour=T0 + timedelta(hours=h), requests=i + 1,
                               input_tokens=100 * (i + 1), output_tokens=7 * (i + 1))
            AccountHourFactory(account=account, hour=T0 + timedelta(hours=h), category=chat, requests=2,
                               input_tokens=5, output_tokens=3, reasoning_requests=0)
    return made


def _group(members, score=0.7, hint="shared card") -> DetectedGroup:
    return DetectedGroup(accounts=[a.pk for a in members], score=score, breakdown={"score": score},
                         explanation="linked", signals=[{"kind": "payment_fingerprint", "value": "pf_x",
                                                         "member_count": len(members), "total_count": len(members),
                                                         "weight": 1.0, "text": "share a card"}],
                         members={a.pk: {"confidence": 0.8, "signals": [{"kind": "card"}],
                                         "explanation": f"shares a card ({a.account_id})"} for a in members},
                         name_hint=hint)


def _active(campaign) -> set[int]:
    return set(campaign.memberships.filter(active=True).values_list("account_id", flat=True))


def _expected_rollup(campaign) -> list[tuple]:
    members = list(_active(campaign))
    rows = (AccountHour.objects.filter(account_id__in=members).values("hour", "model_id", "category_id")
            .annotate(r=Sum("requests"), ti=Sum("input_tokens"), to=Sum("output_tokens"),
                      rr=Sum("reasoning_requests")).order_by("hour", "model_id", "category_id"))
    out = []
    for row in rows:
        n = AccountHour.objects.filter(account_id__in=members, hour=row["hour"], model_id=row["model_id"],
                                       category_id=row["category_id"]).count()
        out.append((row["hour"], row["model_id"], row["category_id"], row["r"], row["ti"], row["to"], row["rr"], n))
    return out


def _rollup(campaign) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute("SELECT hour, model_id, category_id, requests, input_tokens, output_tokens, reasoning_requests,"
                    " accounts FROM campaign_hour WHERE campaign_id = %s ORDER BY 1, 2, 3", [campaign.pk])
        return [tuple(r) for r in cur.fetchall()]


def _assert_figures(campaign) -> None:
    campaign.refresh_from_db()
    members = Account.objects.filter(pk__in=_active(campaign))
    figures = members.aggregate(n=Sum("request_count"), first=Min("first_request_at"), last=Max("last_request_at"))
    tokens = AccountHour.objects.filter(account__in=members).aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    assert campaign.member_count == members.count()
    assert campaign.request_count == (figures["n"] or 0)
    assert (campaign.first_activity, campaign.last_activity) == (figures["first"], figures["last"])
    assert (campaign.tokens_in, campaign.tokens_out) == (tokens["i"] or 0, tokens["o"] or 0)
    assert _rollup(campaign) == _expected_rollup(campaign)


def test_a_new_group_becomes_a_campaign_with_provenance_figures_and_one_audit_event(accounts):
    run = start_run(enqueue=False)
    counts = reconcile(run, [_group(accounts[:8])])
    campaign = Campaign.objects.get()
    assert counts["created"] == 1 and counts["added"] == 8
    assert campaign.name == f"Suspected campaign {campaign.pk}: shared card"
    member = Membership.objects.get(campaign=campaign, account=accounts[0])
    assert (member.source, member.detection_run_id, member.confidence) == ("detection", run.pk, 0.8)
    assert member.signals == [{"kind": "card"}] and member.explanation == f"shares a card ({accounts[0].account_id})"
    event = AuditEvent.objects.get(action="detection.campaign_created")
    assert event.data["added"] == sorted(a.account_id for a in accounts[:8])
    assert campaign.signals.get().text == "share a card"
    _assert_figures(campaign)


def test_a_shrinking_group_drops_only_detections_members_and_only_while_suspected(accounts):
    lead = UserFactory(role="lead")
    reconcile(start_run(enqueue=False), [_group(accounts[:8])])
    campaign = Campaign.objects.get()
    services.link_account(campaign, accounts[9], user=lead, reason="same operator")
    run = start_run(enqueue=False)
    counts = reconcile(run, [_group(accounts[:6])])
    assert counts["removed"] == 2 and counts["added"] == 0
    assert _active(campaign) == {a.pk for a in accounts[:6]} | {accounts[9].pk}
    dropped = Membership.objects.get(campaign=campaign, account=accounts[7])
    assert dropped.removed_reason == f"detection run {run.pk} no longer links it" and dropped.removed_by is None
    event = AuditEvent.objects.get(action="detection.campaign_updated")
    assert event.data["removed"] == sorted(a.account_id for a in accounts[6:8]) and event.data["added"] == []
    _assert_figures(campaign)

    # Once an analyst works on it, detection only adds.
    services.change_status(campaign, "investigating", user=lead, reason="looking into it")
    counts = reconcile(start_run(enqueue=False), [_group(accounts[:4])])
    assert counts["removed"] == 0 and _active(campaign) == {a.pk for a in accounts[:6]} | {accounts[9].pk}


def test_detection_brings_back_what_it_dropped_but_never_what_an_analyst_unlinked_anywhere(accounts):
    lead = UserFactory(role="lead")
    reconcile(start_run(enqueue=False), [_group(accounts[:8]), _group(accounts[8:12], hint="template")])
    big, small = Campaign.objects.order_by("-member_count")
    reconcile(start_run(enqueue=False), [_group(accounts[:6]), _group(accounts[8:12])])
    services.unlink_account(small, accounts[8], user=lead, reason="a reseller's client")
    run = start_run(enqueue=False)
    # accounts[8] now shows up in the big group: the analyst's unlink from the other campaign still holds.
    counts = reconcile(run, [_group(accounts[:9]), _group(accounts[9:12])])
    assert _active(big) == {a.pk for a in accounts[:8]}
    back = Membership.objects.get(campaign=big, account=accounts[6])
    assert (back.active, back.detection_run_id, back.removed_at, back.removed_reason) == (True, run.pk, None, "")
    assert not Membership.objects.filter(campaign=big, account=accounts[8]).exists()
    assert counts["added"] == 2
    assert AuditEvent.objects.filter(action="detection.campaign_updated", campaign=big).last().data["added"] == \
        sorted(a.account_id for a in accounts[6:8])
    # A new campaign found around a vetoed account leaves it out and says how many it left out.
    counts = reconcile(start_run(enqueue=False), [_group([accounts[8], *AccountFactory.create_batch(3)])])
    assert (counts["created"], counts["vetoed_skipped"], counts["added"]) == (1, 1, 3)
    assert accounts[8].pk not in _active(Campaign.objects.latest("pk"))
    for campaign in Campaign.objects.all():
        _assert_figures(campaign)


def test_unchanged_members_are_not_rewritten_and_changed_ones_are(accounts):
    reconcile(start_run(enqueue=False), [_group(accounts[:5])])
    campaign = Campaign.objects.get()
    with connection.cursor() as cur:
        cur.execute("SELECT account_id, xmin::text FROM membership WHERE campaign_id = %s", [campaign.pk])
        before = dict(cur.fetchall())
    group = _group(accounts[:5])
    group.members[accounts[0].pk]["confidence"] = 0.95
    reconcile(start_run(enqueue=False), [group])
    with connection.cursor() as cur:
        cur.execute("SELECT account_id, xmin::text FROM membership WHERE campaign_id = %s", [campaign.pk])
        after = dict(cur.fetchall())
    assert {a for a in before if before[a] != after[a]} == {accounts[0].pk}
    assert Membership.objects.get(campaign=campaign, account=accounts[0]).confidence == 0.95


def test_figures_follow_analyst_links_and_unlinks(accounts):
    lead = UserFactory(role="lead")
    reconcile(start_run(enqueue=False), [_group(accounts[:3])])
    campaign = Campaign.objects.get()
    services.link_account(campaign, accounts[5], user=lead, reason="same card")
    _assert_figures(campaign)
    services.unlink_account(campaign, accounts[0], user=lead, reason="not them")
    _assert_figures(campaign)
    for account in accounts[:3]:
        if Membership.objects.filter(campaign=campaign, account=account, active=True).exists():
            services.unlink_account(campaign, account, user=lead, reason="not them")
    services.unlink_account(campaign, accounts[5], user=lead, reason="not them")
    campaign.refresh_from_db()
    assert (campaign.member_count, campaign.request_count, campaign.tokens_in) == (0, 0, 0)
    assert _rollup(campaign) == []
