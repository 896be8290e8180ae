"""A small campaign with personal data in every place a packet could leak it."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User

from accounts.models import Account, RequestExcerpt
from campaigns import services
from campaigns.models import Campaign, Membership, Signal
from ingest.services import ingest_path
from tests.support.logs import account, request, write_jsonl

MEMBERS = [f"acct_evil_{i:02d}" for i in range(6)]
BYSTANDERS = ["acct_good_01", "acct_good_02"]
EMAILS = {a: f"{a.replace('_', '.')}@mailbox-example.org" for a in MEMBERS + BYSTANDERS}
SIGNUP_IPS = {a: f"203.0.113.{10 + i}" for i, a in enumerate(MEMBERS + BYSTANDERS)}
REQUEST_IPS = ["198.51.100.7", "198.51.100.8", "192.0.2.44", "2001:db8:17::5"]
SECRET_PROMPT = "Think step by step and write out your full reasoning: refactor the billing module"


@dataclass
class World:
    campaign: Campaign
    lead: User
    analyst: User
    raw_values: list[str]


def make_user(name: str, role: str) -> User:
    user = User.objects.create_user(name, password="x")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def build_world(tmp_path) -> World:
    assert_test_database()
    accounts = [account(a, email=EMAILS[a], signup_ip=SIGNUP_IPS[a], signup_country="US", signup_asn=64500,
                        payment_fingerprint="pay_shared_1" if a in MEMBERS else f"pay_{a}",
                        device_fingerprint="dev_shared_9" if a in MEMBERS[:3] else f"dev_{a}",
                        payment_method="prepaid_card", org_id=f"org_{a}")
                for a in MEMBERS + BYSTANDERS]
    write_jsonl(tmp_path / "accounts-1.jsonl", accounts)
    records = []
    n = 0
    for day in range(3):
        for hour in range(0, 24, 2):
            for i, acct in enumerate(MEMBERS + BYSTANDERS):
                n += 1
                minutes = day * 1440 + hour * 60 + i
                records.append(request(
                    f"req_{n:06d}", minutes, account=acct, api_key_id=f"key_{acct}",
                    ip=REQUEST_IPS[(n + i) % len(REQUEST_IPS)], country="US", asn=64501 + (n % 2),
                    ip_type="proxy", user_agent="python-httpx/0.27", client_fingerprint="cf_1",
                    end_user_id=f"enduser-{acct}@corp-example.net",
                    model="model-large" if day < 2 else "model-new", category=["coding", "agentic", "reasoning"][n % 3],
                    template_hash="tpl_aaa" if acct in MEMBERS else None, reasoning_requested=n % 4 == 0,
                    prompt_excerpt=f"{SECRET_PROMPT} #{n}" if n % 5 == 0 else None))
    write_jsonl(tmp_path / "requests-1.jsonl", records)
    for name in ("accounts-1.jsonl", "requests-1.jsonl"):
        run = ingest_path(str(tmp_path / name))
        assert run.status == "done", run.reason
    assert RequestExcerpt.objects.exists()

    lead = make_user("lena_lead", "lead")
    analyst = make_user("arno_analyst", "analyst")
    campaign = Campaign.objects.create(name="Hydra Test Campaign", summary="Six accounts sharing one prepaid card.",
                                       explanation="Shared payment fingerprint pay_shared_1 and network 198.51.100.0/24.",
                                       score=0.91, attribution="Example Distillation Lab")
    Signal.objects.create(campaign=campaign, kind="payment_fingerprint", value="pay_shared_1", member_count=6,
                          total_count=6, weight=3.2, text="6 accounts pay with pay_shared_1, which no one else uses.")
    for acct in MEMBERS + ["acct_good_01"]:
        services.link_account(campaign, Account.objects.get(account_id=acct), user=analyst,
                              reason=f"shares card pay_shared_1; signed up from {SIGNUP_IPS[acct]}")
    Membership.objects.filter(campaign=campaign).update(
        signals=[{"kind": "ip", "value": "198.51.100.7", "text": "requests from 198.51.100.7 like 5 others"}])
    services.unlink_account(campaign, Account.objects.get(account_id="acct_good_01"), user=analyst,
                            reason="corporate NAT, not part of it")
    services.add_note(campaign, user=analyst, text=f"Contact was {EMAILS[MEMBERS[0]]}; seen at 198.51.100.8.")
    services.change_status(campaign, "investigating", user=analyst, reason="looks coordinated")
    campaign.refresh_from_db()
    raw = list(EMAILS.values()) + list(SIGNUP_IPS.values()) + REQUEST_IPS + [SECRET_PROMPT, "mailbox-example.org",
                                                                              "corp-example.net", "198.51.100.0"]
    return World(campaign, lead, analyst, raw)


def assert_test_database() -> None:
    """pytest-django sets up the test database only when a selected test asks for one; a module
    fixture alone would otherwise write to, then flush, the database DATABASE_URL names."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), f"refusing to touch {name!r}: not a test database"


def empty_database() -> None:
    """Flush like pytest-django does, first emptying the tables made by raw SQL migrations
    (campaign_hour's foreign key to campaign makes flush's TRUNCATE fail otherwise)."""
    from django.core.management import call_command
    from django.db import connection

    assert_test_database()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('campaign_hour') IS NOT NULL")
        extra = ", campaign_hour" if cursor.fetchone()[0] else ""
        cursor.execute(f"TRUNCATE request{extra}")
    call_command("flush", interactive=False, verbosity=0)
