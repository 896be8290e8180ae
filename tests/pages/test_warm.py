"""A membership change queues one warm-up of the campaign's read caches on the real broker."""

from __future__ import annotations

import pytest
import redis

from campaigns import services
from tests.conftest import TEST_BROKER_URL
from tests.factories import AccountFactory, CampaignFactory, UserFactory


@pytest.mark.django_db(transaction=True)
def test_links_in_quick_succession_queue_one_warm_up_after_the_commit():
    queue = redis.Redis.from_url(TEST_BROKER_URL)
    queue.delete("detect")
    lead = UserFactory(username="warm_lead", role="lead")
    campaign = CampaignFactory(name="Warm me")
    for account in AccountFactory.create_batch(3):
        services.link_account(campaign, account, user=lead, reason="shares the card")
    messages = queue.lrange("detect", 0, -1)
    assert len(messages) == 1 and b"campaigns.tasks.detect_warm_campaign" in messages[0]
