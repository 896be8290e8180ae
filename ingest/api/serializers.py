"""Serializers for ingest runs, rejected records and uploads."""

from __future__ import annotations

from rest_framework import serializers

from copycat.api import FlatRepresentation
from ingest.models import IngestRun, RejectedRecord
from ingest.services import KINDS


class IngestRunSerializer(FlatRepresentation, serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True, allow_null=True, help_text="0..1 of the file read")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = IngestRun
        fields = ("id", "path", "kind", "source", "status", "reason", "size_bytes", "bytes_read", "progress",
                  "phase", "attempts", "records", "loaded", "updated", "duplicates", "conflicting_duplicates",
                  "rejected", "blank_lines", "rejected_by_reason", "unknown_fields", "created_at", "started_at",
                  "finished_at", "heartbeat_at", "seconds", "created_by")
        read_only_fields = fields


class RejectedRecordSerializer(FlatRepresentation, serializers.ModelSerializer):
    class Meta:
        model = RejectedRecord
        fields = ("id", "line", "field", "reason", "raw")
        read_only_fields = fields


class IngestRunDetailSerializer(IngestRunSerializer):
    rejected_preview = serializers.SerializerMethodField(help_text="The first rejected records; all at .../rejected/")

    class Meta(IngestRunSerializer.Meta):
        fields = (*IngestRunSerializer.Meta.fields, "rejected_preview")
        read_only_fields = fields

    def get_rejected_preview(self, obj) -> list[dict]:
        return RejectedRecordSerializer(self.context["rejected_preview"], many=True).data


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A log file: accounts* or requests*, .jsonl, .jsonl.gz, .csv, .csv.gz "
                                           "or .parquet", allow_empty_file=False)
    kind = serializers.ChoiceField(choices=[(k, k) for k in KINDS], required=False,
                                   help_text="Needed when the file name does not start with accounts or requests.")
