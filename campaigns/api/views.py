"""API over campaigns: reads through campaigns.selectors, writes through campaigns.services
(which check roles and write the audit trail)."""

from __future__ import annotations

import csv
import io
import os

import orjson
from django.db import transaction
from django.http import FileResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, mixins, renderers, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import (
    TimelinePointSerializer,
    TimelineQuerySerializer,
    TimelineSerializer,
)
from accounts.api.views import check_account_id
from accounts.models import Account
from campaigns import filtersets, selectors, services
from campaigns.api import serializers
from campaigns.errors import Conflict
from campaigns.models import EvidencePacket, Membership, Note, Signal
from copycat import roles
from copycat.api import ERRORS, IntIdLookupMixin, JSONErrorsMixin, parse_int_id, plain_page, query
from copycat.db import one_or_none


class BlocklistCSVRenderer(renderers.BaseRenderer):
    """One row per blocked value: kind,value (what firewalls and enforcement scripts read)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out)
        if isinstance(data, dict) and "account_ids" in data:
            writer.writerow(["kind", "value"])
            for kind in ("account_ids", "api_key_ids", "payment_fingerprints", "device_fingerprints", "ips"):
                for value in data[kind]:
                    writer.writerow([kind.removesuffix("s").removesuffix("_id") if kind != "ips" else "ip", value])
        return out.getvalue().encode()  # errors are JSON (JSONErrorsMixin)


def _status_action(body) -> str:
    """The role action of the status a request body asks for; the least any status change
    needs when it names none."""
    wanted = body.get("status") if isinstance(body, dict) else None
    action_name = f"status_{wanted}"
    return action_name if isinstance(wanted, str) and action_name in roles.ACTIONS else "status_investigating"


def _account(account_id: str) -> Account:
    account = one_or_none(Account.objects.filter(account_id=check_account_id(account_id)))
    if account is None:
        raise exceptions.ValidationError({"account": f"No account {account_id!r}; check the id."})
    return account


class CampaignViewSet(JSONErrorsMixin, IntIdLookupMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Suspected and confirmed campaigns. Filter, sort (``ordering``), search (``q``)."""

    queryset = selectors.campaign_list()
    serializer_class = serializers.CampaignSerializer
    filterset_class = filtersets.CampaignFilterSet
    cursor_ordering = ("-score", "-id")
    id_label = "campaign id"
    http_method_names = ("get", "post", "patch", "head", "options")

    def get_object(self):
        pk = parse_int_id(self.kwargs["pk"], self.id_label)
        campaign = selectors.campaign_detail(pk)
        if campaign is None:
            raise exceptions.NotFound(f"No campaign {pk}.")
        self.check_object_permissions(self.request, campaign)
        return campaign

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.CampaignDetailSerializer
        return super().get_serializer_class()

    @extend_schema(request=serializers.CampaignUpdateSerializer,
                   responses={200: serializers.CampaignDetailSerializer, **ERRORS})
    def partial_update(self, request, *args, **kwargs):
        """Change name, severity, assignee, summary or attribution (analyst); give a reason."""
        campaign = self.get_object()
        roles.require(request.user, "edit_campaign")  # a viewer learns 403, not a 400 about the body
        data = serializers.CampaignUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        reason = changes.pop("reason")
        campaign = services.update_campaign(campaign, user=request.user, reason=reason, **changes)
        return Response(serializers.CampaignDetailSerializer(selectors.campaign_detail(campaign.pk)).data)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            raise exceptions.MethodNotAllowed("PUT", detail="Use PATCH with the fields to change and a reason.")
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=serializers.StatusChangeSerializer,
                   responses={200: serializers.CampaignDetailSerializer, **ERRORS})
    @action(detail=True, methods=["post"], filterset_class=None)
    def status(self, request, pk=None):
        """Move the campaign to another status; confirm, dismiss and mitigate need a lead."""
        campaign = self.get_object()
        # The role before the body: a viewer gets 403, not a 400 about a missing field. The
        # status asked for, when it is one, names the role it needs.
        try:
            body = request.data
        except exceptions.ParseError:
            roles.require(request.user, "status_investigating")  # any status change needs this
            raise
        roles.require(request.user, _status_action(body))
        data = serializers.StatusChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.change_status(campaign, data.validated_data["status"], user=request.user,
                               reason=data.validated_data["reason"])
        return Response(serializers.CampaignDetailSerializer(selectors.campaign_detail(campaign.pk)).data)

    # --- members ----------------------------------------------------------------------------

    @extend_schema(methods=["get"], responses=serializers.MembershipSerializer(many=True))
    @extend_schema(methods=["post"], request=serializers.LinkSerializer,
                   responses={201: serializers.MembershipSerializer, **ERRORS})
    @action(detail=True, methods=["get", "post"], filterset_class=filtersets.MembershipFilterSet,
            queryset=Membership.objects.all(), cursor_ordering=("-confidence", "id"),
            serializer_class=serializers.MembershipSerializer)
    def members(self, request, pk=None):
        """List members (``active=false`` for unlinked ones), or link an account with a reason."""
        campaign = self.get_object()
        if request.method == "POST":
            roles.require(request.user, "link")
            data = serializers.LinkSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            membership = services.link_account(campaign, _account(data.validated_data["account"]),
                                               user=request.user, reason=data.validated_data["reason"])
            membership = selectors.member_list(campaign).get(pk=membership.pk)
            return Response(serializers.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)
        return plain_page(self, self.filter_queryset(selectors.member_list(campaign)),
                          serializers.MembershipSerializer)

    @extend_schema(request=serializers.UnlinkSerializer, responses={200: serializers.MembershipSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path=r"members/(?P<account_id>[^/]+)/unlink", filterset_class=None)
    def unlink(self, request, pk=None, account_id=None):
        """Unlink a member with a reason; the membership stays, inactive, with who, when and why."""
        campaign = self.get_object()
        account = one_or_none(Account.objects.filter(account_id=check_account_id(account_id)))
        if account is None:
            raise exceptions.NotFound(f"No account {account_id!r}.")
        roles.require(request.user, "unlink")
        data = serializers.UnlinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.unlink_account(campaign, account, user=request.user,
                                             reason=data.validated_data["reason"])
        membership = selectors.member_list(campaign).get(pk=membership.pk)
        return Response(serializers.MembershipSerializer(membership).data)

    @extend_schema(request=serializers.BulkMembershipSerializer,
                   responses={200: serializers.BulkResultSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="members/bulk", filterset_class=None)
    def bulk_members(self, request, pk=None):
        """Link and unlink many accounts in one call, all or nothing: one that cannot be
        changed (unknown, already a member, not a member) rolls the whole call back."""
        campaign = self.get_object()
        roles.require(request.user, "link")
        data = serializers.BulkMembershipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["link"] + data.validated_data["unlink"]
        accounts = Account.objects.in_bulk(wanted, field_name="account_id")
        missing = [a for a in wanted if a not in accounts]
        if missing:
            raise exceptions.ValidationError({"detail": f"No account {missing[0]!r} ({len(missing)} unknown); "
                                                        "nothing was changed."})
        reason = data.validated_data["reason"]
        with transaction.atomic():
            for account_id in data.validated_data["link"]:
                services.link_account(campaign, accounts[account_id], user=request.user, reason=reason)
            for account_id in data.validated_data["unlink"]:
                services.unlink_account(campaign, accounts[account_id], user=request.user, reason=reason)
        return Response({"linked": data.validated_data["link"], "unlinked": data.validated_data["unlink"]})

    # --- reads ------------------------------------------------------------------------------

    @extend_schema(parameters=[TimelineQuerySerializer], responses=TimelineSerializer)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def timeline(self, request, pk=None):
        """Members' requests and tokens per hour or day, optionally by category or model."""
        campaign = self.get_object()
        asked = query(TimelineQuerySerializer, request)
        if request.accepted_renderer.format == "json":
            # Thousands of points: their JSON is cached beside the points (same key, so any
            # membership change moves both) and passed to the renderer as it is.
            points = orjson.Fragment(selectors.campaign_timeline_json(
                campaign, lambda rows: orjson.dumps(TimelinePointSerializer(rows, many=True).data), **asked))
        else:  # the browsable API's own encoder takes Python values only
            points = TimelinePointSerializer(selectors.campaign_timeline(campaign, **asked), many=True).data
        return Response({"bucket": asked["bucket"], "by": asked["by"], "points": points})

    @extend_schema(parameters=[serializers.WindowQuerySerializer], responses=serializers.InfrastructureSerializer)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def infrastructure(self, request, pk=None):
        """Values the members share (IPs, /24s, ASNs, payment and device fingerprints, client
        fingerprints, templates) with counts; traffic values within the window (default: the
        last 7 days of the campaign's activity)."""
        campaign = self.get_object()
        result = selectors.campaign_infrastructure(campaign, **query(serializers.WindowQuerySerializer, request))
        return Response(serializers.InfrastructureSerializer(result).data)

    @extend_schema(responses=serializers.SignalSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=filtersets.SignalFilterSet,
            queryset=Signal.objects.all(), cursor_ordering=("-weight", "id"),
            serializer_class=serializers.SignalSerializer)
    def signals(self, request, pk=None):
        """Why detection grouped these accounts: the shared values, weighted by rarity."""
        campaign = self.get_object()
        page = self.paginate_queryset(self.filter_queryset(selectors.signal_list(campaign)))
        return self.get_paginated_response(serializers.SignalSerializer(page, many=True).data)

    @extend_schema(parameters=[serializers.WindowQuerySerializer], responses=serializers.CandidatesSerializer)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def candidates(self, request, pk=None):
        """Accounts not linked yet that share the campaign's rarest values."""
        campaign = self.get_object()
        found = selectors.candidate_accounts(campaign, **query(serializers.WindowQuerySerializer, request))
        return Response({"results": serializers.CandidateSerializer(found, many=True).data})

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], description="json (default) or csv")],
        responses={(200, "application/json"): serializers.BlocklistSerializer, (200, "text/csv"): str, **ERRORS})
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None,
            renderer_classes=[renderers.JSONRenderer, BlocklistCSVRenderer])
    def blocklist(self, request, pk=None):
        """What enforcement blocks for a confirmed or mitigated campaign (409 otherwise)."""
        campaign = self.get_object()
        result = selectors.blocklist(campaign)
        response = Response(serializers.BlocklistSerializer(result).data)
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-blocklist.csv"'
        return response

    @extend_schema(methods=["get"], responses=serializers.NoteSerializer(many=True))
    @extend_schema(methods=["post"], request=serializers.NoteSerializer,
                   responses={201: serializers.NoteSerializer, **ERRORS})
    @action(detail=True, methods=["get", "post"], filterset_class=filtersets.NoteFilterSet,
            queryset=Note.objects.all(), cursor_ordering=("-id",),
            serializer_class=serializers.NoteSerializer)
    def notes(self, request, pk=None):
        """The campaign's notes, newest first; post one (analyst)."""
        campaign = self.get_object()
        if request.method == "POST":
            roles.require(request.user, "note")
            data = serializers.NoteSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            note = services.add_note(campaign, user=request.user, text=data.validated_data["text"])
            return Response(serializers.NoteSerializer(note).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(self.filter_queryset(selectors.note_list(campaign)))
        return self.get_paginated_response(serializers.NoteSerializer(page, many=True).data)

    @extend_schema(methods=["get"], responses=serializers.EvidencePacketSerializer(many=True))
    @extend_schema(methods=["post"], request=serializers.PacketRequestSerializer,
                   responses={202: serializers.EvidencePacketSerializer, **ERRORS})
    @action(detail=True, methods=["get", "post"], filterset_class=None, queryset=EvidencePacket.objects.all(),
            cursor_ordering=("-id",),
            serializer_class=serializers.EvidencePacketSerializer)
    def packets(self, request, pk=None):
        """Evidence packets of this campaign; post to start one (lead). Poll its progress at
        /api/v1/packets/{id}/ and download it when done."""
        campaign = self.get_object()
        if request.method == "POST":
            roles.require(request.user, "export_packet")  # before the body: a 403, not a 400
            data = serializers.PacketRequestSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            packet = _evidence().request_packet(campaign, user=request.user, **data.validated_data)
            return Response(serializers.EvidencePacketSerializer(packet).data, status=status.HTTP_202_ACCEPTED)
        page = self.paginate_queryset(selectors.packet_list().filter(campaign=campaign))
        return self.get_paginated_response(serializers.EvidencePacketSerializer(page, many=True).data)


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"


def _evidence():
    try:
        from campaigns.evidence import service
    except ImportError:
        raise Unavailable("Evidence packets are not available in this build yet "
                                      "(campaigns.evidence.service is missing).") from None
    return service


def _detection():
    try:
        from campaigns.detection import service
    except ImportError:
        raise Unavailable("Detection is not available in this build yet "
                                      "(campaigns.detection.service is missing).") from None
    return service


class DetectionRunViewSet(IntIdLookupMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Detection runs with their progress; post to start one (analyst)."""

    queryset = selectors.detection_run_list()
    serializer_class = serializers.DetectionRunSerializer
    filterset_class = filtersets.DetectionRunFilterSet
    id_label = "detection run id"

    @extend_schema(request=serializers.DetectionStartSerializer,
                   responses={202: serializers.DetectionRunSerializer, **ERRORS})
    def create(self, request, *args, **kwargs):
        roles.require(request.user, "start_detection")
        data = serializers.DetectionStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = _detection().start_run(user=request.user, **data.validated_data)
        from campaigns import audit

        audit.record("detection.start", actor=request.user, object_type="detection_run", object_id=run.pk,
                     reason="started through the API", data={k: v for k, v in data.validated_data.items() if v})
        return Response(serializers.DetectionRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class EvidencePacketViewSet(IntIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    """Evidence packets: progress, and the signed ZIP once done."""

    queryset = selectors.packet_list()
    serializer_class = serializers.EvidencePacketSerializer
    filterset_class = filtersets.EvidencePacketFilterSet
    id_label = "packet id"

    @extend_schema(responses={(200, "application/zip"): bytes, **ERRORS})
    @action(detail=True, methods=["get"], filterset_class=None)
    def download(self, request, pk=None):
        """The packet's ZIP (409 while it is still being built or if it failed)."""
        packet = self.get_object()
        if packet.status != EvidencePacket.Status.DONE or not packet.path:
            raise Conflict(f"Packet {packet.pk} is {packet.status}; download it once it is done "
                           f"(poll /api/v1/packets/{packet.pk}/).")
        if not os.path.isfile(packet.path):
            raise exceptions.NotFound(f"Packet {packet.pk}'s file is gone from the server; start a new packet.")
        from campaigns import audit

        audit.record("packet.download", actor=request.user, object_type="evidence_packet", object_id=packet.pk,
                     campaign=packet.campaign, reason="downloaded through the API")
        return FileResponse(open(packet.path, "rb"), as_attachment=True,
                            filename=f"campaign-{packet.campaign_id}-packet-{packet.pk}.zip",
                            content_type="application/zip")

    @extend_schema(responses={(200, "text/plain"): str})
    @action(detail=False, methods=["get"], url_path="public-key", filterset_class=None, pagination_class=None,
            renderer_classes=[renderers.StaticHTMLRenderer])
    def public_key(self, request):
        """The Ed25519 public key (PEM) that checks every packet's manifest.sig."""
        from django.http import HttpResponse

        return HttpResponse(_evidence().public_key_pem(), content_type="text/plain")


class AuditEventViewSet(IntIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    """The audit trail, newest first: every change, who made it, when and why (read-only)."""

    queryset = selectors.audit_list()
    serializer_class = serializers.AuditEventSerializer
    filterset_class = filtersets.AuditEventFilterSet
    id_label = "audit event id"


class MeView(APIView):
    @extend_schema(responses=inline_serializer("Me", {"username": drf_serializers.CharField(),
                                                      "role": drf_serializers.CharField(allow_null=True),
                                                      "may": drf_serializers.ListField(
                                                          child=drf_serializers.CharField())}))
    def get(self, request):
        """Who the token belongs to, their role and the writes it allows."""
        return Response({"username": request.user.get_username(), "role": roles.role_of(request.user),
                         "may": sorted(a for a in roles.ACTIONS if roles.may(request.user, a))})


class HealthView(APIView):
    """A trivial endpoint: the benchmark's baseline and a load balancer's probe."""

    authentication_classes = ()
    permission_classes = ()

    @extend_schema(responses=inline_serializer("Health", {"ok": drf_serializers.BooleanField()}))
    def get(self, request):
        return Response({"ok": True})

