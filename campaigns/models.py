"""Campaigns, their members with provenance, signals, notes, detection runs, evidence
packets and the append-only audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from copycat.jobs import JobStatus


class DetectionRun(models.Model):
    """One run of the detection pipeline; pages read its progress from here."""

    Status = JobStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0)
    counts = models.JSONField(default=dict, blank=True,
                              help_text="accounts scored, links, clusters, campaigns new/updated...")
    timings = models.JSONField(default=dict, blank=True, help_text="seconds per phase")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "detection_run"
        ordering = ["-id"]


class Campaign(models.Model):
    """A suspected or confirmed distillation campaign: a group of accounts acting as one."""

    class Status(models.TextChoices):
        SUSPECTED = "suspected"
        INVESTIGATING = "investigating"
        CONFIRMED = "confirmed"
        MITIGATED = "mitigated"
        DISMISSED = "dismissed"

    class Severity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUSPECTED, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_campaigns")
    summary = models.TextField(blank=True)
    attribution = models.TextField(blank=True)
    explanation = models.TextField(blank=True, help_text="Why detection thinks this is a campaign, in plain words.")
    score = models.FloatField(default=0.0, db_index=True)
    score_breakdown = models.JSONField(default=dict, blank=True)
    # Headline figures, refreshed when membership changes, so lists never aggregate requests.
    member_count = models.IntegerField(default=0)
    request_count = models.BigIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    first_activity = models.DateTimeField(null=True, blank=True)
    last_activity = models.DateTimeField(null=True, blank=True)
    created_by_run = models.ForeignKey(DetectionRun, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="created_campaigns")
    last_run = models.ForeignKey(DetectionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "campaign"
        ordering = ["-score", "-id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """An account's place in a campaign, with where it came from and why.

    Unlinking keeps the row (``active`` False, who, when, why). Detection never re-adds an
    account an analyst removed, and never removes one an analyst added.
    """

    class Source(models.TextChoices):
        DETECTION = "detection"
        ANALYST = "analyst"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="memberships")
    active = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    detection_run = models.ForeignKey(DetectionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    confidence = models.FloatField(default=0.0)
    signals = models.JSONField(default=list, blank=True, help_text="[{kind, value, shared_with, weight, text}]")
    explanation = models.TextField(blank=True)
    reason = models.TextField(blank=True, help_text="The analyst's reason for linking.")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)
    removed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.TextField(blank=True)

    class Meta:
        db_table = "membership"
        constraints = [models.UniqueConstraint(fields=["campaign", "account"], name="membership_campaign_account")]
        indexes = [models.Index(fields=["account", "active"], name="membership_account_active"),
                   models.Index(fields=["campaign", "active", "confidence"], name="membership_campaign_conf"),
                   # The API's member list pages in (-confidence, id) order: a top-N read per page.
                   models.Index(models.F("campaign"), models.F("confidence").desc(), models.F("id"),
                                name="membership_campaign_rank")]


class Signal(models.Model):
    """A value the campaign's members share, weighted by how rare it is in all traffic."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="signals")
    kind = models.CharField(max_length=48, help_text="payment_fingerprint, template_hash, ip_24, sync, ...")
    value = models.TextField()
    member_count = models.IntegerField(default=0, help_text="members that carry it")
    total_count = models.IntegerField(default=0, help_text="accounts anywhere that carry it")
    weight = models.FloatField(default=0.0)
    text = models.TextField(blank=True, help_text="The sentence an analyst can read out.")

    class Meta:
        db_table = "campaign_signal"
        ordering = ["-weight"]


class Note(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "campaign_note"
        ordering = ["-created_at"]


class EvidencePacket(models.Model):
    """A signed ZIP of one campaign's evidence; built by a Celery task (queue export)."""

    Status = JobStatus

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="packets")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    redacted = models.BooleanField(default=True)
    reason = models.TextField(blank=True, help_text="Why personal data is in clear, when it is.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    phase = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0.0)
    path = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    # The packet shows the campaign as of this audit event, so two packets of one snapshot
    # hold the same files.
    snapshot_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "evidence_packet"
        ordering = ["-id"]


class AuditEvent(models.Model):
    """One change, who made it, when and why. Append-only and hash-chained.

    A database trigger (migration 0002) refuses UPDATE and DELETE; each row carries the hash
    of the one before, so a changed or missing row shows when the chain is checked.
    """

    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, related_name="+")
    actor_name = models.CharField(max_length=150, help_text="user name, or 'system' for detection and jobs")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=128)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                 related_name="audit_events")
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        db_table = "audit_event"
        ordering = ["id"]
        indexes = [models.Index(fields=["campaign", "id"], name="audit_campaign_id")]
