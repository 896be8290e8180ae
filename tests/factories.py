"""factory_boy factories shared by the test suites (append new factories; don't rewrite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import (
    Account,
    AccountHour,
    ApiKey,
    Category,
    ModelName,
    Org,
    Session,
)
from campaigns.models import Campaign, Membership, Note, Signal

T0 = datetime(2026, 4, 1, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            group, _ = Group.objects.get_or_create(name=extracted)
            self.groups.add(group)


class OrgFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Org
        django_get_or_create = ("value",)

    value = factory.Sequence(lambda n: f"org_{n:06d}")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    account_id = factory.Sequence(lambda n: f"acct_T{n:08d}")
    created_at = T0 - timedelta(days=10)
    org = factory.SubFactory(OrgFactory)
    email = factory.LazyAttribute(lambda o: f"{o.account_id}@example.com")
    signup_ip = factory.Sequence(lambda n: f"198.51.{n // 250 % 250}.{n % 250 + 1}")
    signup_country = "US"
    billing_country = "US"
    signup_asn = 64500
    payment_fingerprint = factory.Sequence(lambda n: f"pf_{n:08x}")
    device_fingerprint = factory.Sequence(lambda n: f"df_{n:08x}")
    status = Account.Status.ACTIVE
    first_request_at = T0
    last_request_at = T0 + timedelta(days=2)
    request_count = 10


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    key_id = factory.Sequence(lambda n: f"key_T{n:08d}")
    account = factory.SubFactory(AccountFactory)
    first_seen = T0
    last_seen = T0 + timedelta(days=2)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    account = factory.SubFactory(AccountFactory)
    api_key = None
    started_at = T0
    ended_at = T0 + timedelta(minutes=20)
    request_count = 5
    input_tokens = 500
    output_tokens = 900


class ModelNameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelName
        django_get_or_create = ("value",)

    value = "atlas-3"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("value",)

    value = "coding"


class AccountHourFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountHour

    account = factory.SubFactory(AccountFactory)
    hour = T0
    model = factory.SubFactory(ModelNameFactory)
    category = factory.SubFactory(CategoryFactory)
    requests = 10
    input_tokens = 1000
    output_tokens = 2000
    reasoning_requests = 1
    error_requests = 0


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    status = Campaign.Status.SUSPECTED
    score = factory.Sequence(lambda n: float(n % 100))
    last_activity = T0 + timedelta(days=2)
    first_activity = T0


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    campaign = factory.SubFactory(CampaignFactory)
    account = factory.SubFactory(AccountFactory)
    source = Membership.Source.DETECTION
    confidence = 0.9


class SignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signal

    campaign = factory.SubFactory(CampaignFactory)
    kind = "payment_fingerprint"
    value = factory.Sequence(lambda n: f"pf_sig_{n}")
    member_count = 3
    total_count = 3
    weight = 1.0
    text = "3 accounts share one payment fingerprint"


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    campaign = factory.SubFactory(CampaignFactory)
    author = factory.SubFactory(UserFactory)
    text = "Looked at it."
