"""Filters for accounts, API keys, sessions and requests, shared by the pages and the API.

Filters on the account row itself (status, org, sign-up IP, payment and device fingerprint...)
are cheap. Filters on traffic (``ip``, ``ip24``, ``asn``, ``template``, ``client_fingerprint``)
must look in the request table, which has no index on those columns: they are bounded by the
activity window (``active_after``/``active_before``, default the last 7 days of data) so
PostgreSQL prunes to the month partitions of that window.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import django_filters as filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q

from accounts.models import (
    Account,
    AccountHour,
    ApiKey,
    Category,
    ClientFingerprint,
    ModelName,
    PromptTemplate,
    Request,
    Session,
)
from copycat.filters import BooleanFilter, IntegerFilter

TRAFFIC_WINDOW = timedelta(days=7)

ACCOUNT_ORDERING = (
    ("request_count", "request_count"),
    ("account_id", "account_id"),
    ("id", "id"),
)


def parse_ip(value: str, field: str = "ip") -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValidationError({field: f"{value!r} is not an IP address; give one like 203.0.113.7."}) from None


def parse_net24(value: str, field: str = "ip24") -> ipaddress.IPv4Network:
    """A /24 given as ``203.0.113.0/24``, ``203.0.113`` or any address inside it."""
    text = value.strip()
    if text.count(".") == 2 and "/" not in text:
        text += ".0"
    try:
        net = ipaddress.ip_network(text if "/" in text else f"{text}/24", strict=False)
    except ValueError:
        raise ValidationError({field: f"{value!r} is not a /24; give one like 203.0.113.0/24."}) from None
    if net.version != 4 or net.prefixlen != 24:
        raise ValidationError({field: f"{value!r} is not an IPv4 /24; give one like 203.0.113.0/24."})
    return net


class IPFilter(filters.CharFilter):
    """Validates the value as an IP address (400 with a message otherwise)."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return super().filter(qs, parse_ip(value, self.field_name))


def _lookup_id(model, value: str) -> int:
    """A lookup table's id for ``value``; -1 (matches nothing, unlike None which would match
    NULL) if the value never occurred."""
    found = model.objects.filter(value=value).values_list("id", flat=True).first()
    return -1 if found is None else found


class AccountFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Account id or e-mail starts with")
    # distinct=False (django-filter's default is True): status is a column of the row, and
    # DISTINCT made PostgreSQL sort every matching account to show one page.
    status = filters.MultipleChoiceFilter(choices=Account.Status.choices, distinct=False)
    org = filters.CharFilter(field_name="org__value", label="Organisation id")
    country = filters.CharFilter(method="filter_country", label="Sign-up or billing country (ISO 3166 alpha-2)")
    signup_ip = IPFilter(field_name="signup_ip")
    signup_ip24 = filters.CharFilter(method="filter_signup_ip24", label="Sign-up IP inside this /24")
    signup_asn = IntegerFilter(field_name="signup_asn")
    payment_fingerprint = filters.CharFilter(field_name="payment_fingerprint")
    device_fingerprint = filters.CharFilter(field_name="device_fingerprint")
    placeholder = BooleanFilter(field_name="is_placeholder")
    campaign = IntegerFilter(method="filter_campaign", label="Active member of this campaign id")
    active_after = filters.IsoDateTimeFilter(field_name="last_request_at", lookup_expr="gte")
    active_before = filters.IsoDateTimeFilter(field_name="first_request_at", lookup_expr="lte")
    min_requests = IntegerFilter(field_name="request_count", lookup_expr="gte")
    # Traffic filters: they look in the request table within the activity window.
    ip = filters.CharFilter(method="filter_traffic", label="Sent requests from this IP")
    ip24 = filters.CharFilter(method="filter_traffic", label="Sent requests from this /24")
    asn = IntegerFilter(method="filter_traffic", label="Sent requests from this ASN")
    template = filters.CharFilter(method="filter_traffic", label="Sent requests with this template_hash")
    client_fingerprint = filters.CharFilter(method="filter_traffic", label="Sent requests with this client fingerprint")
    model = filters.CharFilter(method="filter_rollup", label="Sent requests to this model")
    category = filters.CharFilter(method="filter_rollup", label="Sent requests of this category")
    ordering = filters.OrderingFilter(fields=ACCOUNT_ORDERING)

    class Meta:
        model = Account
        fields = ()

    def filter_q(self, qs, name, value):
        value = value.strip()
        return qs.filter(Q(account_id__startswith=value) | Q(email__istartswith=value)) if value else qs

    def filter_country(self, qs, name, value):
        value = value.strip().upper()
        if len(value) != 2 or not value.isalpha():
            raise ValidationError({"country": f"{value!r} is not a two-letter country code (e.g. US)."})
        return qs.filter(Q(signup_country=value) | Q(billing_country=value))

    def filter_signup_ip24(self, qs, name, value):
        net = parse_net24(value, name)
        return qs.filter(signup_ip__range=(str(net[0]), str(net[-1])))

    def filter_campaign(self, qs, name, value):
        from campaigns.models import Membership

        return qs.filter(Exists(Membership.objects.filter(account=OuterRef("pk"), campaign_id=value, active=True)))

    def _window(self):
        data = self.form.cleaned_data
        until = data.get("active_before")
        since = data.get("active_after")
        if since is None and until is None:
            latest = AccountHour.objects.order_by("-hour").values_list("hour", flat=True).first()
            if latest is None:
                return None, None
            return latest - TRAFFIC_WINDOW, None
        return since, until

    def filter_traffic(self, qs, name, value):
        requests = Request.objects.filter(account_id=OuterRef("pk"))
        if name == "ip":
            requests = requests.filter(ip=parse_ip(value))
        elif name == "ip24":
            net = parse_net24(value)
            requests = requests.filter(ip__range=(str(net[0]), str(net[-1])))
        elif name == "asn":
            requests = requests.filter(asn=value)
        elif name == "template":
            requests = requests.filter(template_id=_lookup_id(PromptTemplate, value))
        elif name == "client_fingerprint":
            requests = requests.filter(client_fingerprint_id=_lookup_id(ClientFingerprint, value))
        since, until = self._window()
        if since is not None:
            requests = requests.filter(ts__gte=since)
        if until is not None:
            requests = requests.filter(ts__lte=until)
        return qs.filter(Exists(requests))

    def filter_rollup(self, qs, name, value):
        model = ModelName if name == "model" else Category
        hours = AccountHour.objects.filter(account_id=OuterRef("pk"), **{f"{name}_id": _lookup_id(model, value)})
        since, until = self._window()
        if since is not None:
            hours = hours.filter(hour__gte=since)
        if until is not None:
            hours = hours.filter(hour__lte=until)
        return qs.filter(Exists(hours))


class ApiKeyFilterSet(filters.FilterSet):
    account = filters.CharFilter(field_name="account__account_id", label="Account id")
    key_id = filters.CharFilter(field_name="key_id")
    seen_after = filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="gte")
    seen_before = filters.IsoDateTimeFilter(field_name="first_seen", lookup_expr="lte")
    campaign = IntegerFilter(method="filter_campaign", label="Key of an active member of this campaign id")
    ordering = filters.OrderingFilter(fields=(("id", "id"), ("key_id", "key_id")))

    class Meta:
        model = ApiKey
        fields = ()

    def filter_campaign(self, qs, name, value):
        from campaigns.models import Membership

        return qs.filter(Exists(Membership.objects.filter(account=OuterRef("account_id"), campaign_id=value,
                                                          active=True)))


class SessionFilterSet(filters.FilterSet):
    account = filters.CharFilter(method="filter_account", label="Account id")
    api_key = filters.CharFilter(field_name="api_key__key_id", label="API key id")
    started_after = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lte")
    min_requests = IntegerFilter(field_name="request_count", lookup_expr="gte")
    ordering = filters.OrderingFilter(fields=(("id", "id"), ("request_count", "request_count")))

    class Meta:
        model = Session
        fields = ()

    def filter_account(self, qs, name, value):
        # Resolve the id first so the (account, ended_at) index is used, not a join.
        account_pk = Account.objects.filter(account_id=value).values_list("id", flat=True).first()
        return qs.filter(account_id=account_pk)


class RequestFilterSet(filters.FilterSet):
    """Filters for one account's requests; the view adds the account and keyset pagination."""

    since = filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte", label="From (UTC)")
    until = filters.IsoDateTimeFilter(field_name="ts", lookup_expr="lt", label="Until (UTC)")
    model = filters.CharFilter(method="filter_lookup", label="Model")
    category = filters.CharFilter(method="filter_lookup", label="Category")
    status_code = IntegerFilter(field_name="status_code", label="HTTP status")
    ip = IPFilter(field_name="ip", label="IP")
    reasoning = BooleanFilter(field_name="reasoning_requested", label="Asks for reasoning")

    class Meta:
        model = Request
        fields = ()

    def filter_lookup(self, qs, name, value):
        model = ModelName if name == "model" else Category
        return qs.filter(**{f"{name}_id": _lookup_id(model, value)})
