"""Detection rules on small hand-made data: rarity, organisations, and what links accounts."""

from __future__ import annotations

import pytest

from campaigns.detection.service import detect_groups, run_detection
from campaigns.models import Campaign
from tests.detection.world import background, load, ring
from tests.support.logs import account, request

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_shared_nat_and_a_popular_sdk_link_nobody(tmp_path):
    """Thirty strangers behind one campus NAT, all on one popular SDK, form no group."""
    accounts, requests = background()
    for i in range(30):
        aid = f"nat_{i:03d}"
        accounts.append(account(aid, org_id=f"org_nat_{i}", created_at=f"2024-{1 + i % 12:02d}-{1 + i:02d}T08:00:00Z",
                                payment_fingerprint=f"fp_nat_{i}", payment_method="card", signup_ip="198.51.100.7"))
        for k in range(15):
            requests.append(request(f"nat_{i}_{k}", i * 37 + k * 97.0, account=aid, ip="198.51.100.7",
                                    client_fingerprint="cf_popular_sdk", category="coding",
                                    template_hash=f"tpl_own_{i}"))
    load(tmp_path, "nat", accounts, requests)
    groups, _ = detect_groups()
    assert groups == []


def test_sharing_inside_one_organisation_is_expected(tmp_path):
    """Colleagues share a card, an egress, an internal template and office hours: no campaign."""
    bg_accounts, bg_requests = background()
    accounts, requests = ring("acme", 15, org="org_acme")
    load(tmp_path, "org", bg_accounts + accounts, bg_requests + requests)
    groups, _ = detect_groups()
    assert groups == []


def test_the_same_sharing_across_organisations_is_one_explained_campaign(tmp_path):
    bg_accounts, bg_requests = background()
    accounts, requests = ring("ring", 15)
    load(tmp_path, "ring", bg_accounts + accounts, bg_requests + requests)
    run = run_detection()
    assert run.status == "done"
    campaign = Campaign.objects.get()
    members = set(campaign.memberships.filter(active=True).values_list("account__account_id", flat=True))
    assert members == {f"ring_{i:03d}" for i in range(15)}
    assert "fp_ring" in campaign.explanation or "tpl_ring" in campaign.explanation
    texts = [s.text for s in campaign.signals.all()]
    assert any("payment instrument fp_ring with 14 other members" in t for t in texts)
    assert any("prompt template tpl_ring, used by 15 members and no other account" in t for t in texts)
    member = campaign.memberships.first()
    assert member.explanation and member.signals


def test_a_rare_value_alone_does_not_make_a_campaign(tmp_path):
    """Two kinds of evidence are needed: a card shared by strangers who share nothing else is not enough."""
    bg_accounts, bg_requests = background()
    accounts, requests = background(n=8, seed=5)
    for i, a in enumerate(accounts):
        a.update(account_id=f"card_{i}", org_id=f"org_card_{i}", payment_fingerprint="fp_family")
    for r in requests:
        r["account_id"] = "card_" + r["account_id"].split("_")[1].lstrip("0").rjust(1, "0")
        r["request_id"] = "c" + r["request_id"]
        r["ip"] = "172.16." + r["request_id"].split("_")[1] + ".9"
    load(tmp_path, "card", bg_accounts + accounts, bg_requests + requests)
    groups, _ = detect_groups()
    assert groups == []
