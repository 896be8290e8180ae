"""Serializers for accounts, API keys, sessions, requests and timelines."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.masking import mask_email, mask_ip, mask_value
from accounts.models import IP_TYPES, Account, ApiKey, Request, Session
from accounts.selectors import BREAKDOWNS, BUCKETS
from copycat.api import FlatRepresentation, iso_datetime


class MaskedEmailField(serializers.CharField):
    """An e-mail masked as the pages mask it; only the reveal endpoint (analyst role, a logged
    reason) answers with it in clear."""

    def to_representation(self, value):
        return mask_email(str(value), revealed=False)


class MaskedIPField(serializers.CharField):
    """An IP address with its host part masked (the /24 or /48 stays), as on the pages."""

    def to_representation(self, value):
        return mask_ip(str(value), revealed=False)


@extend_schema_field({"type": "string", "nullable": True, "description": f"One of: {', '.join(IP_TYPES)}."})
class IPTypeField(serializers.Field):
    """The request's IP type by name (stored as its index in IP_TYPES)."""

    def to_representation(self, value):
        return IP_TYPES[value] if 0 <= value < len(IP_TYPES) else None


PERSONAL = "Masked (•••) unless revealed: POST .../reveal/ with a reason (analyst role)."


class AccountSerializer(FlatRepresentation, serializers.ModelSerializer):
    org = serializers.CharField(source="org.value", allow_null=True, default=None)
    email = MaskedEmailField(read_only=True, allow_null=True, help_text=PERSONAL)
    signup_ip = MaskedIPField(read_only=True, allow_null=True, help_text=PERSONAL)

    class Meta:
        model = Account
        fields = ("id", "account_id", "is_placeholder", "created_at", "org", "email", "signup_ip", "signup_country",
                  "signup_asn", "billing_country", "payment_fingerprint", "payment_method", "phone_verified",
                  "device_fingerprint", "signup_channel", "plan", "status", "first_request_at", "last_request_at",
                  "request_count")
        read_only_fields = fields


class AccountRefSerializer(FlatRepresentation, serializers.ModelSerializer):
    """An account as other objects refer to it."""

    org = serializers.CharField(source="org.value", allow_null=True, default=None)

    class Meta:
        model = Account
        fields = ("account_id", "org", "status", "request_count", "last_request_at")
        read_only_fields = fields


class TimelinePointListSerializer(serializers.ListSerializer):
    """Timeline points are plain dicts of numbers (accounts.selectors.rollup_points), thousands
    per response: the per-field walk of a Serializer cost most of a timeline request's time.
    Same output, one dict copy per point; each distinct hour is formatted once, as the
    DateTimeField the schema declares formats it."""

    def to_representation(self, data):
        stamp = iso_datetime()
        formatted: dict = {}
        out = []
        for point in data:
            t = point["t"]
            text = formatted.get(t)
            if text is None:
                text = formatted[t] = stamp(t)
            out.append({**point, "t": text})
        return out


class TimelinePointSerializer(serializers.Serializer):
    t = serializers.DateTimeField()
    key = serializers.CharField(allow_null=True, help_text="category or model, when broken down")
    requests = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    reasoning_requests = serializers.IntegerField()
    error_requests = serializers.IntegerField(
        allow_null=True, help_text="null in a campaign's timeline: the campaign rollup keeps no error counts")

    class Meta:
        list_serializer_class = TimelinePointListSerializer


class AccountDetailSerializer(AccountSerializer):
    campaigns = serializers.SerializerMethodField()
    api_key_count = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField(help_text="Hourly totals over the last 7 days of activity.")

    class Meta(AccountSerializer.Meta):
        fields = (*AccountSerializer.Meta.fields, "campaigns", "api_key_count", "timeline")
        read_only_fields = fields

    def get_campaigns(self, obj) -> list[dict]:
        return [{"id": m["campaign_id"], "name": m["campaign__name"], "status": m["campaign__status"],
                 "source": m["source"]}
                for m in obj.memberships.filter(active=True).values("campaign_id", "campaign__name",
                                                                     "campaign__status", "source")]

    def get_api_key_count(self, obj) -> int:
        return obj.api_keys.count()

    def get_timeline(self, obj) -> list[dict]:
        return TimelinePointSerializer(self.context["timeline"], many=True).data


class TimelineQuerySerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=BUCKETS, default="hour", error_messages={
        "invalid_choice": f'"{{input}}" is not a bucket; use one of: {", ".join(BUCKETS)}.'})
    by = serializers.ChoiceField(choices=BREAKDOWNS, default="none", error_messages={
        "invalid_choice": f'"{{input}}" is not a breakdown; use one of: {", ".join(BREAKDOWNS)}.'})
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "until must be after since."})
        return attrs


class TimelineSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    by = serializers.CharField()
    points = TimelinePointSerializer(many=True)


class ApiKeySerializer(FlatRepresentation, serializers.ModelSerializer):
    account = serializers.CharField(source="account.account_id")

    class Meta:
        model = ApiKey
        fields = ("id", "key_id", "account", "first_seen", "last_seen")
        read_only_fields = fields


class SessionSerializer(FlatRepresentation, serializers.ModelSerializer):
    account = serializers.CharField(source="account.account_id")
    api_key = serializers.CharField(source="api_key.key_id", allow_null=True, default=None)

    class Meta:
        model = Session
        fields = ("id", "account", "api_key", "started_at", "ended_at", "request_count", "input_tokens",
                  "output_tokens")
        read_only_fields = fields


class RequestSerializer(FlatRepresentation, serializers.ModelSerializer):
    ip = MaskedIPField(read_only=True, help_text=PERSONAL)
    # The *_value attributes are keyset_requests' annotations.
    api_key = serializers.CharField(source="api_key_value", allow_null=True)
    model = serializers.CharField(source="model_value", allow_null=True)
    category = serializers.CharField(source="category_value", allow_null=True)
    country = serializers.CharField(source="country_value", allow_null=True)
    user_agent = serializers.CharField(source="user_agent_value", allow_null=True)
    client_fingerprint = serializers.CharField(source="client_fingerprint_value", allow_null=True)
    template_hash = serializers.CharField(source="template_value", allow_null=True)
    ip_type = IPTypeField(read_only=True)

    class Meta:
        model = Request
        fields = ("request_id", "ts", "api_key", "ip", "country", "asn", "ip_type", "user_agent",
                  "client_fingerprint", "model", "status_code", "input_tokens", "output_tokens", "latency_ms",
                  "category", "template_hash", "prompt_hash", "conversation_id", "turn", "tool_count",
                  "reasoning_requested", "stream")
        read_only_fields = fields


class RequestPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="URL of the next (older) page, null at the end.")
    results = RequestSerializer(many=True)


class SharedValueSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()
    requests = serializers.IntegerField(allow_null=True)
    weight = serializers.FloatField(required=False)


class NeighbourValueSerializer(SharedValueSerializer):
    """A value an account shares with a neighbour; IPs masked as on the account page."""

    def to_representation(self, instance):
        out = super().to_representation(instance)
        out["value"] = mask_value(out["kind"], out["value"], revealed=False)
        return out


class NeighbourSerializer(serializers.Serializer):
    account = AccountRefSerializer()
    shared = NeighbourValueSerializer(many=True)


class RevealSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why you need the personal data: it goes into the "
                                                              "audit trail.")


class IpCountSerializer(serializers.Serializer):
    ip = serializers.CharField()
    requests = serializers.IntegerField()


class RevealedSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    signup_ip = serializers.CharField(allow_null=True)
    ips = IpCountSerializer(many=True, help_text="The IPs of the account's latest requests, with counts.")


class NeighboursSerializer(serializers.Serializer):
    results = NeighbourSerializer(many=True)
