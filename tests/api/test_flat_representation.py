"""FlatRepresentation (the fast path of the list serializers) gives exactly DRF's own output."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from accounts import selectors
from accounts.api import serializers as account_serializers
from campaigns import selectors as campaign_selectors
from campaigns import services
from campaigns.api import serializers as campaign_serializers
from campaigns.models import AuditEvent, DetectionRun, EvidencePacket, Membership
from copycat.api import FlatRepresentation, nested, row_fields
from ingest.api import serializers as ingest_serializers
from ingest.models import IngestRun, RejectedRecord
from tests import factories as f

pytestmark = pytest.mark.django_db


def _drf(serializer_class, instance, context=None):
    """What DRF's own field-by-field walk gives for ``instance``."""
    return serializers.Serializer.to_representation(serializer_class(context=context or {}), instance)


def _same(serializer_class, instances, context=None):
    assert issubclass(serializer_class, FlatRepresentation)
    flat = serializer_class(instances, many=True, context=context or {}).data
    assert len(flat) == len(instances) > 0
    for got, instance in zip(flat, instances, strict=True):
        assert dict(got) == _drf(serializer_class, instance, context)


def test_accounts_api_keys_sessions_and_requests(world):
    member = world["members"][0]
    member.org = None  # a null path on the way (org.value)
    _same(account_serializers.AccountSerializer, [member, world["bystander"], *world["members"][1:]])
    _same(account_serializers.AccountRefSerializer, [member, world["outsider"]])
    _same(account_serializers.ApiKeySerializer, list(selectors.api_key_list()))
    _same(account_serializers.SessionSerializer, list(selectors.session_list()))
    page = selectors.account_requests(world["bystander"])  # no template: a null lookup value
    rows = page.rows + selectors.account_requests(member).rows
    assert any(r.template_value is None for r in rows) and any(r.template_value for r in rows)
    _same(account_serializers.RequestSerializer, rows)


def test_campaigns_members_runs_packets_and_audit(world):
    lead = f.UserFactory(role="lead")
    campaign = world["campaign"]
    campaign.assignee = lead
    campaign.save()
    services.add_note(campaign, user=lead, text="a note")
    Membership.objects.filter(account=world["members"][0]).update(added_by=lead)
    run = DetectionRun.objects.create(requested_by=lead, counts={"accounts": 3}, params={})
    _same(campaign_serializers.CampaignSerializer, [campaign, f.CampaignFactory()])  # assignee set and null
    members = list(Membership.objects.filter(campaign=campaign).select_related("account__org", "added_by"))
    _same(campaign_serializers.MembershipSerializer, members)
    # The member list serialises plain rows: the same output as from the model instances.
    Membership.objects.filter(account=world["members"][1]).update(detection_run=run, active=False)
    world["members"][2].org = None
    world["members"][2].save()
    rows = nested(list(campaign_selectors.member_list(campaign).values(
        *row_fields(campaign_serializers.MembershipSerializer))))
    instances = list(campaign_selectors.member_list(campaign))
    assert any(r["added_by"]["username"] for r in rows) and any(r["account"]["org"]["value"] is None for r in rows)
    assert [dict(r) for r in campaign_serializers.MembershipSerializer(rows, many=True).data] == \
        [_drf(campaign_serializers.MembershipSerializer, m) for m in instances]
    _same(campaign_serializers.NoteSerializer, list(campaign.notes.all()))
    _same(campaign_serializers.DetectionRunSerializer, [run, DetectionRun.objects.create(params={})])
    packet = EvidencePacket.objects.create(campaign=campaign, requested_by=lead, status=EvidencePacket.Status.DONE)
    _same(campaign_serializers.EvidencePacketSerializer, [packet])
    _same(campaign_serializers.AuditEventSerializer, list(AuditEvent.objects.all()))


def test_ingest_runs_and_rejected_records(db):
    done = IngestRun.objects.create(path="/x/requests.jsonl", kind="requests", source="command", status="done",
                                    size_bytes=100, bytes_read=50, rejected_by_reason={"ts": 2})
    queued = IngestRun.objects.create(path="/x/accounts.csv", kind="accounts", source="drop_folder")
    _same(ingest_serializers.IngestRunSerializer, [done, queued])
    RejectedRecord.objects.create(run=done, line=3, field="ts", reason="not a timestamp", raw="{}")
    _same(ingest_serializers.RejectedRecordSerializer, list(RejectedRecord.objects.all()))


def test_date_times_follow_the_current_time_zone_as_drf_does(world):
    from django.utils import timezone

    members = [world["bystander"], *world["members"]]
    with timezone.override("Asia/Kolkata"):  # +05:30: no "Z" and another wall clock
        flat = account_serializers.AccountSerializer(members, many=True).data
        assert flat[0]["last_request_at"].endswith("+05:30")
        assert [dict(row) for row in flat] == [_drf(account_serializers.AccountSerializer, m) for m in members]
    assert account_serializers.AccountSerializer(members, many=True).data[0]["last_request_at"].endswith("Z")


def test_a_serializer_whose_fields_read_its_context_is_not_planned_once_for_all(world):
    account = world["members"][0]
    first = account_serializers.AccountDetailSerializer(account, context={"timeline": []}).data
    point = {"t": account.last_request_at, "key": None, "requests": 7, "input_tokens": 1, "output_tokens": 2,
             "reasoning_requests": 0, "error_requests": 0}
    second = account_serializers.AccountDetailSerializer(account, context={"timeline": [point]}).data
    assert first["timeline"] == [] and [p["requests"] for p in second["timeline"]] == [7]


def test_nested_rows_follow_the_current_time_zone_too(world):
    from django.utils import timezone

    members = list(Membership.objects.filter(campaign=world["campaign"]).select_related("account__org", "added_by"))
    assert campaign_serializers.MembershipSerializer(members, many=True).data  # plans the class (in UTC)
    with timezone.override("Asia/Kolkata"):
        flat = campaign_serializers.MembershipSerializer(members, many=True).data
        assert flat[0]["account"]["last_request_at"].endswith("+05:30")
        assert [dict(row) for row in flat] == [_drf(campaign_serializers.MembershipSerializer, m) for m in members]


def test_plain_request_rows_serialize_as_model_rows_do(world):
    for account in (world["bystander"], world["members"][0]):
        as_models = selectors.account_requests(account)
        as_dicts = selectors.account_requests(account, plain=True)
        assert as_dicts.next_cursor == as_models.next_cursor and as_dicts.rows
        assert (account_serializers.RequestSerializer(as_dicts.rows, many=True).data
                == account_serializers.RequestSerializer(as_models.rows, many=True).data)


def test_a_shared_plan_keeps_no_request_context_alive(world):
    import gc
    import weakref

    class Marker:
        pass

    FlatRepresentation._flat_shared_plans.clear()  # this call plans the classes afresh
    context = Marker()
    members = list(Membership.objects.filter(campaign=world["campaign"]).select_related("account__org"))
    assert campaign_serializers.MembershipSerializer(members, many=True, context={"request": context}).data
    alive = weakref.ref(context)
    del context
    gc.collect()
    assert alive() is None
