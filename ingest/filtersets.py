"""Filters for ingest runs and their rejected records, shared by the pages and the API."""

from __future__ import annotations

import django_filters as filters

from copycat.filters import BooleanFilter
from ingest.models import IngestRun, RejectedRecord
from ingest.services import KINDS


class IngestRunFilterSet(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=IngestRun.Status.choices, distinct=False)
    kind = filters.ChoiceFilter(choices=[(k, k) for k in KINDS])
    source = filters.ChoiceFilter(choices=IngestRun.Source.choices)
    path = filters.CharFilter(field_name="path", lookup_expr="icontains", label="File path contains")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    has_rejections = BooleanFilter(method="filter_has_rejections")

    class Meta:
        model = IngestRun
        fields = ()

    def filter_has_rejections(self, qs, name, value):
        return qs.filter(rejected__gt=0) if value else qs.filter(rejected=0)


class RejectedRecordFilterSet(filters.FilterSet):
    field = filters.CharFilter(field_name="field")
    reason = filters.CharFilter(field_name="reason", lookup_expr="icontains")

    class Meta:
        model = RejectedRecord
        fields = ()
