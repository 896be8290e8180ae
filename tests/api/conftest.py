"""Fixtures for the API tests: a user and a token client per role, and a small world with
requests in the partitioned request table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign
from copycat import roles
from tests import factories as f
from tests.support.db import rebuild_traffic_values

ROLES = roles.ROLES


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def users(db):
    return {role: f.UserFactory(username=f"{role}-user", role=role) for role in ROLES}


@pytest.fixture
def api(users):
    """``api[role]`` is a client authenticated as a user with that role; ``api[None]`` has no token."""
    clients = {role: client_for(user) for role, user in users.items()}
    clients[None] = APIClient()
    clients["norole"] = client_for(f.UserFactory(username="no-role-user"))
    return clients


def add_requests(rows: list[dict]) -> None:
    """Insert requests straight into the partitioned table (month partitions made here)."""
    months = {r["ts"].strftime("%Y-%m") for r in rows}
    with connection.cursor() as cursor:
        for month in months:
            year, mon = int(month[:4]), int(month[5:])
            nxt = f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}"
            cursor.execute(f"CREATE TABLE IF NOT EXISTS request_y{month[:4]}m{month[5:]} PARTITION OF request "
                           f"FOR VALUES FROM ('{month}-01 00:00+00') TO ('{nxt}-01 00:00+00')")
        for r in rows:
            cursor.execute(
                "INSERT INTO request (request_id, ts, account_id, ip, model_id, status_code, input_tokens, "
                "output_tokens, ingest_run_id, template_id, client_fingerprint_id, asn, category_id) "
                "VALUES (%s, %s, %s, %s, %s, 200, 100, 200, 0, %s, %s, %s, %s)",
                [r["request_id"], r["ts"], r["account"].pk, r.get("ip", "192.0.2.10"), r["model"].pk,
                 r.get("template"), r.get("client_fingerprint"), r.get("asn", 64500), r.get("category")],
            )
    rebuild_traffic_values()


@pytest.fixture
def world(db):
    """A campaign of three members sharing a payment fingerprint, a proxy IP and a template; an
    outsider sharing the IP and template (a candidate); a bystander; requests and rollups."""
    from accounts.models import PromptTemplate

    model = f.ModelNameFactory(value="atlas-3")
    category = f.CategoryFactory(value="coding")
    template = PromptTemplate.objects.create(value="tpl_shared")
    campaign = f.CampaignFactory(name="Hydra", status=Campaign.Status.SUSPECTED, score=90.0)
    members = [f.AccountFactory(payment_fingerprint="pf_shared") for _ in range(3)]
    for account in members:
        f.MembershipFactory(campaign=campaign, account=account)
        f.ApiKeyFactory(account=account)
        f.SessionFactory(account=account)
    outsider = f.AccountFactory()
    bystander = f.AccountFactory(status="suspended", signup_country="DE", billing_country="DE")
    rows = []
    for i, account in enumerate([*members, outsider, bystander]):
        shared = account is not bystander
        for j in range(6):
            ts = f.T0 + timedelta(days=1, hours=j, minutes=i)
            rows.append({"request_id": f"req_{i}_{j}", "ts": ts, "account": account, "model": model,
                         "ip": "203.0.113.9" if shared else "192.0.2.77", "category": category.pk,
                         "template": template.pk if shared else None})
            if j < 3:
                f.AccountHourFactory(account=account, hour=ts.replace(minute=0), model=model, category=category)
    add_requests(rows)
    from campaigns import services

    services.refresh_figures(campaign)
    campaign.refresh_from_db()
    return {"campaign": campaign, "members": members, "outsider": outsider, "bystander": bystander,
            "model": model, "category": category, "template": template}
