"""The audit trail is append-only in the database and hash-chained; verify_audit checks it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from accounts.models import Account
from campaigns import audit, services
from campaigns.models import AuditEvent, Campaign
from tests.factories import UserFactory
from tests.support.worker import ROOT, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trail():
    user = UserFactory(username="lee", role="lead")
    campaign = Campaign.objects.create(name="Hydra")
    account = Account.objects.create(account_id="acct_1")
    services.link_account(campaign, account, user=user, reason="shares the prepaid card")
    services.change_status(campaign, "investigating", user=user, reason="looks coordinated")
    services.add_note(campaign, user=user, text="Opened the case.")
    return list(AuditEvent.objects.order_by("id"))


def _verify() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "verify_audit"], cwd=ROOT, capture_output=True, text=True,
                          env=worker_env("redis://127.0.0.1:6379/15"), timeout=120)


def test_every_change_is_recorded_with_who_when_and_why(trail):
    assert [e.action for e in trail] == ["membership.link", "campaign.status", "note.add"]
    assert all(e.actor_name == "lee" and e.at is not None for e in trail)
    assert trail[0].reason == "shares the prepaid card" and trail[1].data == {"from": "suspected", "to": "investigating"}


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET reason = 'nothing happened'",
                                       "DELETE FROM audit_event"])
def test_the_database_refuses_to_change_or_remove_events(trail, statement):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 3


def test_the_chain_verifies_and_a_forged_event_is_named(trail):
    ok = _verify()
    assert ok.returncode == 0 and "intact: 3 events" in ok.stdout
    # Someone with superuser rights disables the trigger and rewrites history.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete")
        cursor.execute("UPDATE audit_event SET reason = 'routine check' WHERE id = %s", [trail[0].pk])
        cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete")
    broken = _verify()
    assert broken.returncode == 1
    assert f"event {trail[0].pk}: its content does not match its hash" in broken.stdout


def test_events_chain_to_the_one_before(trail):
    assert trail[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in trail[1:]] == [e.hash for e in trail[:-1]]
