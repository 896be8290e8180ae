"""Ingest runs (one per file) and the records they rejected."""

from __future__ import annotations

from django.db import models

from copycat.jobs import JobStatus


class IngestRun(models.Model):
    """One file's ingest: its progress while it runs and its report when it ends.

    Pages and the API read job state from here, never from the broker. A worker claims a run
    with a conditional UPDATE, holds an advisory lock on it on its connection, and keeps
    ``heartbeat_at`` fresh while it works; a run whose heartbeat stops and whose lock is free
    (the worker's connection is gone) is marked ``interrupted`` and queued again.
    """

    Status = JobStatus

    class Source(models.TextChoices):
        COMMAND = "command"
        DROP_FOLDER = "drop_folder"
        UPLOAD = "upload"
        TASK = "task"

    path = models.TextField(help_text="The file as given, or its place in the drop folder or upload store.")
    kind = models.CharField(max_length=16, blank=True, help_text="accounts or requests")
    source = models.CharField(max_length=16, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    reason = models.TextField(blank=True, help_text="Why the file failed as a whole.")
    # A drop-folder file is claimed once by (path, size, mtime): two beats or two workers that
    # see the same file race on this unique key and only one wins.
    drop_key = models.CharField(max_length=600, null=True, blank=True, unique=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    bytes_read = models.BigIntegerField(default=0)
    phase = models.CharField(max_length=32, blank=True)
    attempts = models.IntegerField(default=0)
    records = models.BigIntegerField(default=0)
    loaded = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    conflicting_duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    blank_lines = models.BigIntegerField(default=0)
    rejected_by_reason = models.JSONField(default=dict, blank=True)
    unknown_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "ingest_run"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"IngestRun {self.pk} {self.path} ({self.status})"

    @property
    def progress(self) -> float | None:
        """Share of the file read so far (0..1), when its size is known."""
        if not self.size_bytes:
            return None
        return min(1.0, self.bytes_read / self.size_bytes)


class RejectedRecord(models.Model):
    """A record that broke the log format, kept with the reason so an operator can fix it."""

    RAW_LIMIT = 2000

    run = models.ForeignKey(IngestRun, on_delete=models.CASCADE, related_name="rejected_records")
    line = models.BigIntegerField()
    field = models.CharField(max_length=64)
    reason = models.TextField()
    raw = models.TextField(help_text="The record's text, cut to RAW_LIMIT characters.")

    class Meta:
        db_table = "rejected_record"
        ordering = ["run", "line"]
