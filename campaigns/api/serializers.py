"""Serializers for campaigns, members, signals, notes, detection runs, packets, audit events."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.api.serializers import AccountRefSerializer, SharedValueSerializer
from campaigns.models import (
    AuditEvent,
    Campaign,
    DetectionRun,
    EvidencePacket,
    Membership,
    Note,
    Signal,
)
from copycat.api import FlatRepresentation

REASON_HELP = "Why: it goes into the audit trail and the evidence packet."
BULK_MAX = 1000


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        if kwargs.get("read_only"):
            kwargs.setdefault("allow_null", True)
        else:
            kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(**kwargs)


class CampaignSerializer(FlatRepresentation, serializers.ModelSerializer):
    assignee = UsernameField(read_only=True)

    class Meta:
        model = Campaign
        fields = ("id", "name", "status", "severity", "assignee", "score", "member_count", "request_count",
                  "tokens_in", "tokens_out", "first_activity", "last_activity", "created_at", "updated_at")
        read_only_fields = fields


class CampaignDetailSerializer(CampaignSerializer):
    class Meta(CampaignSerializer.Meta):
        fields = (*CampaignSerializer.Meta.fields, "summary", "attribution", "explanation", "score_breakdown",
                  "created_by_run", "last_run")
        read_only_fields = fields


class CampaignUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    severity = serializers.ChoiceField(choices=Campaign.Severity.choices, required=False)
    assignee = UsernameField(required=False, allow_null=True)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    attribution = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    reason = serializers.CharField(max_length=2000, help_text=REASON_HELP)

    def validate(self, attrs):
        if len(attrs) == 1:
            raise serializers.ValidationError(
                "Nothing to change: give at least one of name, severity, assignee, summary, attribution.")
        return attrs


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices)
    reason = serializers.CharField(max_length=2000, help_text=REASON_HELP)


class MembershipSerializer(FlatRepresentation, serializers.ModelSerializer):
    account = AccountRefSerializer(read_only=True)
    added_by = UsernameField(read_only=True)
    removed_by = UsernameField(read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "account", "active", "source", "detection_run", "confidence", "signals", "explanation",
                  "reason", "added_by", "added_at", "removed_by", "removed_at", "removed_reason")
        read_only_fields = fields
        # A membership keeps both sides of its history: an unlink answers with the link's reason
        # in `reason` and its own in `removed_reason`.
        extra_kwargs = {"reason": {"help_text": "Why an analyst linked the account (empty for detection's own links: "
                                                "see explanation and signals)."},
                        "removed_reason": {"help_text": "Why it was unlinked; empty while it is a member."}}


class LinkSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=64, help_text="The account id, e.g. acct_...")
    reason = serializers.CharField(max_length=2000, help_text=REASON_HELP)


class UnlinkSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text=REASON_HELP)


class BulkMembershipSerializer(serializers.Serializer):
    link = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list,
                                 max_length=BULK_MAX)
    unlink = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list,
                                   max_length=BULK_MAX)
    reason = serializers.CharField(max_length=2000, help_text=REASON_HELP)

    def validate(self, attrs):
        if not attrs["link"] and not attrs["unlink"]:
            raise serializers.ValidationError("Give account ids to link and/or unlink.")
        if len(attrs["link"]) + len(attrs["unlink"]) > BULK_MAX:
            raise serializers.ValidationError(f"At most {BULK_MAX} accounts per call; split the list.")
        both = set(attrs["link"]) & set(attrs["unlink"])
        if both:
            raise serializers.ValidationError(f"{min(both)} is both linked and unlinked; pick one.")
        for name in ("link", "unlink"):
            if len(set(attrs[name])) != len(attrs[name]):
                raise serializers.ValidationError({name: "An account id appears twice; give each once."})
        return attrs


class BulkResultSerializer(serializers.Serializer):
    linked = serializers.ListField(child=serializers.CharField())
    unlinked = serializers.ListField(child=serializers.CharField())


class SignalSerializer(FlatRepresentation, serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = ("id", "kind", "value", "member_count", "total_count", "weight", "text")
        read_only_fields = fields


class NoteSerializer(FlatRepresentation, serializers.ModelSerializer):
    author = UsernameField(read_only=True)

    class Meta:
        model = Note
        fields = ("id", "author", "text", "created_at")
        read_only_fields = ("id", "author", "created_at")
        extra_kwargs = {"text": {"max_length": 20000}}  # noqa: RUF012


class InfraValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    accounts = serializers.IntegerField(help_text="members carrying it")
    requests = serializers.IntegerField(allow_null=True)
    total_accounts = serializers.IntegerField(allow_null=True, help_text="accounts anywhere (sign-up values)")


class WindowSerializer(serializers.Serializer):
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)


class InfrastructureSerializer(serializers.Serializer):
    window = WindowSerializer()
    members = serializers.IntegerField()
    kinds = serializers.DictField(child=InfraValueSerializer(many=True))


class WindowQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "until must be after since."})
        return attrs


class CandidateSerializer(serializers.Serializer):
    account = AccountRefSerializer()
    score = serializers.FloatField()
    shared = SharedValueSerializer(many=True)


class CandidatesSerializer(serializers.Serializer):
    results = CandidateSerializer(many=True)


class BlocklistSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    status = serializers.CharField()
    window = WindowSerializer()
    account_ids = serializers.ListField(child=serializers.CharField())
    api_key_ids = serializers.ListField(child=serializers.CharField())
    payment_fingerprints = serializers.ListField(child=serializers.CharField())
    device_fingerprints = serializers.ListField(child=serializers.CharField())
    ips = serializers.ListField(child=serializers.CharField())


class DetectionRunSerializer(FlatRepresentation, serializers.ModelSerializer):
    requested_by = UsernameField(read_only=True)

    class Meta:
        model = DetectionRun
        fields = ("id", "status", "params", "window_start", "window_end", "phase", "progress", "counts",
                  "timings", "error", "created_at", "started_at", "finished_at", "heartbeat_at", "requested_by")
        read_only_fields = fields


class DetectionStartSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "until must be after since."})
        return attrs


class EvidencePacketSerializer(FlatRepresentation, serializers.ModelSerializer):
    requested_by = UsernameField(read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = EvidencePacket
        fields = ("id", "campaign", "status", "redacted", "reason", "requested_by", "phase", "progress", "sha256",
                  "size_bytes", "error", "created_at", "started_at", "finished_at", "download")
        read_only_fields = fields

    def get_download(self, obj) -> str | None:
        if obj.status != EvidencePacket.Status.DONE:
            return None
        return f"/api/v1/packets/{obj.pk}/download/"


class PacketRequestSerializer(serializers.Serializer):
    redacted = serializers.BooleanField(default=True, help_text="False puts personal data in clear (lead only).")
    reason = serializers.CharField(max_length=2000, help_text=REASON_HELP)


class AuditEventSerializer(FlatRepresentation, serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ("id", "at", "actor_name", "action", "object_type", "object_id", "campaign", "reason", "data",
                  "prev_hash", "hash")
        read_only_fields = fields
