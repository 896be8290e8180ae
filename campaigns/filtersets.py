"""Filters for campaigns, members, notes, detection runs, packets and the audit trail, shared
by the pages and the API. Unknown choices and malformed values make the form invalid, which
the API turns into a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import django_filters as filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils.dateparse import parse_date, parse_datetime

from campaigns.models import (
    AuditEvent,
    Campaign,
    DetectionRun,
    EvidencePacket,
    Membership,
    Note,
    Signal,
)
from copycat.filters import BooleanFilter, IntegerFilter
from copycat.text import is_whole_number

CAMPAIGN_ORDERING = (
    ("score", "score"),
    ("member_count", "member_count"),
    ("request_count", "request_count"),
    ("created_at", "created_at"),
    ("last_activity", "last_activity"),
    ("updated_at", "updated_at"),
    ("name", "name"),
    ("id", "id"),
)


class DateOrDateTimeField(forms.Field):
    """An ISO 8601 timestamp, or a bare date (``2026-04-02``, what a date input sends); a value
    without an offset is UTC."""

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_python(self, value):
        text = str(value or "").strip()
        if not text:
            return None
        if len(text) > 40 or "\x00" in text:
            raise forms.ValidationError("Enter a valid date (2026-04-02) or date/time (2026-04-02T10:00Z).")
        try:
            moment = parse_datetime(text)
            day = None if moment else parse_date(text)
        except ValueError:
            moment = day = None
        if moment is None and day is None:
            raise forms.ValidationError("Enter a valid date (2026-04-02) or date/time (2026-04-02T10:00Z).")
        if day is not None:  # a whole day: from its start, or up to its end
            moment = datetime.combine(day, time.min) + (timedelta(days=1, microseconds=-1) if self.end_of_day else timedelta())
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DateOrDateTimeFilter(filters.Filter):
    field_class = DateOrDateTimeField


class CampaignFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Name, summary or attribution contains (or the id)")
    status = filters.MultipleChoiceFilter(choices=Campaign.Status.choices, distinct=False)
    severity = filters.MultipleChoiceFilter(choices=Campaign.Severity.choices, distinct=False)
    assignee = filters.CharFilter(method="filter_assignee", label="Assignee user name ('none' for unassigned)")
    min_score = filters.NumberFilter(field_name="score", lookup_expr="gte", label="Score at least")
    max_score = filters.NumberFilter(field_name="score", lookup_expr="lte", label="Score at most")
    min_members = IntegerFilter(field_name="member_count", lookup_expr="gte", label="Accounts at least")
    max_members = IntegerFilter(field_name="member_count", lookup_expr="lte", label="Accounts at most")
    # Active in the window: the campaign's activity overlaps it.
    active_after = DateOrDateTimeFilter(field_name="last_activity", lookup_expr="gte", label="Active on or after")
    active_before = DateOrDateTimeFilter(field_name="first_activity", lookup_expr="lte", label="Active on or before",
                                         end_of_day=True)
    account = filters.CharFilter(method="filter_account", label="Has this account id as an active member")
    created_by_run = IntegerFilter(field_name="created_by_run_id")
    ordering = filters.OrderingFilter(fields=CAMPAIGN_ORDERING)

    class Meta:
        model = Campaign
        fields = ()

    def filter_q(self, qs, name, value):
        value = value.strip()
        if not value:
            return qs
        by_id = Q(pk=int(value)) if is_whole_number(value) and len(value) < 10 else Q(pk__in=[])
        return qs.filter(Q(name__icontains=value) | Q(summary__icontains=value) | Q(attribution__icontains=value)
                         | by_id)

    def filter_assignee(self, qs, name, value):
        if value.strip().lower() == "none":
            return qs.filter(assignee__isnull=True)
        user_model = get_user_model()
        return qs.filter(assignee__in=user_model.objects.filter(username=value.strip()))

    def filter_account(self, qs, name, value):
        return qs.filter(Exists(Membership.objects.filter(campaign=OuterRef("pk"), account__account_id=value,
                                                          active=True)))


class MembershipFilterSet(filters.FilterSet):
    active = BooleanFilter(field_name="active", label="Linked now (no: unlinked accounts)")
    source = filters.ChoiceFilter(choices=Membership.Source.choices)
    min_confidence = filters.NumberFilter(field_name="confidence", lookup_expr="gte", label="Confidence at least")
    account = filters.CharFilter(field_name="account__account_id", lookup_expr="startswith",
                                 label="Account id starts with")
    ordering = filters.OrderingFilter(fields=(
        ("confidence", "confidence"), ("id", "id"), ("account__request_count", "requests"),
        ("account__account_id", "account"), ("account__last_request_at", "last_request"), ("added_at", "added")))

    class Meta:
        model = Membership
        fields = ()


class SignalFilterSet(filters.FilterSet):
    kind = filters.CharFilter(field_name="kind")
    min_weight = filters.NumberFilter(field_name="weight", lookup_expr="gte")

    class Meta:
        model = Signal
        fields = ()


class NoteFilterSet(filters.FilterSet):
    author = filters.CharFilter(field_name="author__username")
    after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Note
        fields = ()


class DetectionRunFilterSet(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=DetectionRun.Status.choices, distinct=False)
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = DetectionRun
        fields = ()


class EvidencePacketFilterSet(filters.FilterSet):
    campaign = IntegerFilter(field_name="campaign_id")
    status = filters.MultipleChoiceFilter(choices=EvidencePacket.Status.choices, distinct=False)
    redacted = BooleanFilter(field_name="redacted")

    class Meta:
        model = EvidencePacket
        fields = ()


class AuditEventFilterSet(filters.FilterSet):
    action = filters.CharFilter(field_name="action", label="Action, e.g. membership.link or campaign.status")
    action_prefix = filters.CharFilter(field_name="action", lookup_expr="startswith")
    actor = filters.CharFilter(field_name="actor_name", label="User name, or 'system'")
    campaign = IntegerFilter(field_name="campaign_id")
    object_type = filters.CharFilter(field_name="object_type")
    object_id = filters.CharFilter(field_name="object_id")
    after = filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    before = filters.IsoDateTimeFilter(field_name="at", lookup_expr="lte")

    class Meta:
        model = AuditEvent
        fields = ()
