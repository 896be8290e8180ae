"""A small campaign world for the page tests: users of every role, a campaign with members,
rollups, sessions and raw requests, a candidate account, an ingest run with rejects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from accounts.models import Account, Request, TrafficHour
from campaigns import services
from campaigns.models import AuditEvent
from ingest.models import IngestRun, RejectedRecord
from tests.factories import (
    T0,
    AccountFactory,
    AccountHourFactory,
    CampaignFactory,
    CategoryFactory,
    MembershipFactory,
    ModelNameFactory,
    NoteFactory,
    SessionFactory,
    SignalFactory,
    UserFactory,
)

PASSWORD = "pages-test-pw-123"


def insert_requests(account: Account, n: int, *, start=T0, ip="203.0.113.7", model=None, category=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS request_y2026m04 PARTITION OF request "
                       "FOR VALUES FROM ('2026-04-01 00:00+00') TO ('2026-05-01 00:00+00')")
    Request.objects.bulk_create([
        Request(request_id=f"req_{account.account_id}_{i}", ts=start + timedelta(minutes=7 * i), account_id=account.pk,
                ip=ip, model_id=model.pk, category_id=category.pk, status_code=200, input_tokens=100 + i,
                output_tokens=900, ingest_run_id=1, asn=64500, ip_type=4, reasoning_requested=i % 2 == 0)
        for i in range(n)])


@pytest.fixture
def users(db):
    made = {}
    for role in ("viewer", "analyst", "lead", "admin"):
        user = UserFactory(username=f"{role}_user", role=role)
        user.set_password(PASSWORD)
        user.save()
        made[role] = user
    made["norole"] = UserFactory(username="norole_user")
    return made


@pytest.fixture
def world(db, users):
    model = ModelNameFactory(value="atlas-3")
    coding = CategoryFactory(value="coding")
    agentic = CategoryFactory(value="agentic")
    campaign = CampaignFactory(name="Hydra one", score=9.0, member_count=3, request_count=60)
    shared_card = "pf_shared_card"
    members = [AccountFactory(payment_fingerprint=shared_card, signup_ip=f"198.51.100.{i + 10}") for i in range(3)]
    for account in members:
        MembershipFactory(campaign=campaign, account=account, signals=[{"kind": "payment_fingerprint",
                                                                        "text": "shares one prepaid card"}])
        for h in range(6):
            AccountHourFactory(account=account, hour=T0 + timedelta(hours=h), model=model, category=coding, requests=7)
            AccountHourFactory(account=account, hour=T0 + timedelta(hours=h), model=model, category=agentic, requests=3)
        insert_requests(account, 20, model=model, category=coding)
        SessionFactory(account=account, started_at=T0, ended_at=T0 + timedelta(hours=2), request_count=20)
    for h in range(6):
        TrafficHour.objects.create(hour=T0 + timedelta(hours=h), model=model, category=coding, requests=500,
                                   input_tokens=1, output_tokens=1, reasoning_requests=0, error_requests=0)
    candidate = AccountFactory(account_id="acct_candidate", payment_fingerprint=shared_card)
    services.refresh_figures(campaign)  # as every link does: figures and the campaign_hour rollup
    campaign.refresh_from_db()
    outsider = AccountFactory(account_id="acct_outsider")
    SignalFactory(campaign=campaign, value=shared_card)
    NoteFactory(campaign=campaign, author=users["analyst"], text="First look: shared card.")
    other = CampaignFactory(name="Small reseller", score=2.0, status="investigating")
    run = IngestRun.objects.create(path="/tmp/requests-2026-04-01.jsonl", kind="requests", source="command",
                                   status="done", records=10, loaded=8, rejected=2,
                                   rejected_by_reason={"ts: no offset": 2})
    RejectedRecord.objects.create(run=run, line=3, field="ts", reason="ts: no offset", raw='{"ts": "2026-04-01"}')
    return {"campaign": campaign, "members": members, "candidate": candidate, "outsider": outsider, "other": other,
            "run": run, "model": model, "category": coding}


@pytest.fixture
def login(client, users):
    def as_role(role: str):
        client.force_login(users[role])
        return client
    return as_role


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
