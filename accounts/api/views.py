"""Read-only API over accounts, API keys, sessions and an account's requests."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from accounts import filtersets, selectors, services
from accounts.api import serializers
from accounts.models import Request
from copycat import roles
from copycat.api import ERRORS, PlainRowsListMixin, parse_int_id, query, strict_filter
from copycat.db import one_or_none
from copycat.text import is_whole_number

ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
REQUEST_PAGE_MAX = 1000


def check_account_id(value: str) -> str:
    if not ACCOUNT_ID.fullmatch(value):  # match() with "$" let a trailing newline through
        raise exceptions.ValidationError(
            {"account_id": f"{value[:80]!r} is not an account id: up to 64 letters, digits and _ . : @ -."})
    return value


class AccountViewSet(PlainRowsListMixin, viewsets.ReadOnlyModelViewSet):
    """Monitored API accounts. Filter by status, org, country, sign-up values, traffic values
    (IP, /24, ASN, template, client fingerprint within the activity window), campaign."""

    queryset = selectors.account_list()
    serializer_class = serializers.AccountSerializer
    filterset_class = filtersets.AccountFilterSet
    lookup_field = "account_id"
    lookup_value_regex = "[^/]+"
    cursor_ordering = ("-request_count", "-id")

    def get_object(self):
        account = selectors.get_account(check_account_id(self.kwargs["account_id"]))
        if account is None:
            raise exceptions.NotFound(f"No account {self.kwargs['account_id']!r}.")
        self.check_object_permissions(self.request, account)
        return account

    @extend_schema(responses=serializers.AccountDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        account = self.get_object()
        timeline = selectors.account_timeline(account)
        return Response(serializers.AccountDetailSerializer(account, context={"timeline": timeline}).data)

    @extend_schema(parameters=[serializers.TimelineQuerySerializer], responses=serializers.TimelineSerializer)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def timeline(self, request, account_id=None):
        """The account's requests and tokens per hour or day (from the hourly rollup)."""
        account = self.get_object()
        asked = query(serializers.TimelineQuerySerializer, request)
        points = selectors.account_timeline(account, **asked)
        return Response({"bucket": asked["bucket"], "by": asked["by"],
                         "points": serializers.TimelinePointSerializer(points, many=True).data})

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME, description="ts >= since"),
                    OpenApiParameter("until", OpenApiTypes.DATETIME, description="ts < until"),
                    OpenApiParameter("model", OpenApiTypes.STR),
                    OpenApiParameter("category", OpenApiTypes.STR),
                    OpenApiParameter("status_code", OpenApiTypes.INT),
                    OpenApiParameter("ip", OpenApiTypes.STR, description="requests from this IP address"),
                    OpenApiParameter("reasoning", OpenApiTypes.BOOL),
                    OpenApiParameter("cursor", OpenApiTypes.STR, description="From the `next` link."),
                    OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1..{REQUEST_PAGE_MAX}")],
        responses=serializers.RequestPageSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def requests(self, request, account_id=None):
        """The account's requests, newest first; keyset-paginated on (ts, request_id)."""
        account = self.get_object()
        requests = strict_filter(filtersets.RequestFilterSet, request, Request.objects.all())
        size = request.query_params.get("page_size", "100")
        if not is_whole_number(size) or not 1 <= int(size) <= REQUEST_PAGE_MAX:
            raise exceptions.ValidationError({"page_size": f"Give a page size from 1 to {REQUEST_PAGE_MAX}."})
        try:
            page = selectors.account_requests(account, requests=requests, cursor=request.query_params.get("cursor"),
                                              limit=int(size), plain=True)
        except selectors.InvalidCursor as exc:
            raise exceptions.ValidationError({"cursor": str(exc)}) from None
        next_url = None
        if page.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", page.next_cursor)
        return Response({"next": next_url, "results": serializers.RequestSerializer(page.rows, many=True).data})

    @extend_schema(responses=serializers.NeighboursSerializer)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def neighbours(self, request, account_id=None):
        """Accounts sharing this one's rare values: payment or device fingerprint, sign-up IP, or,
        in its last 7 days of traffic, request IPs, /24s, templates, client fingerprints."""
        account = self.get_object()
        found = selectors.account_neighbours(account)
        return Response({"results": serializers.NeighbourSerializer(found, many=True).data})


    @extend_schema(request=serializers.RevealSerializer, responses={200: serializers.RevealedSerializer, **ERRORS})
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def reveal(self, request, account_id=None):
        """The account's e-mail, sign-up IP and request IPs in clear (analyst role and a reason;
        the reveal goes into the audit trail, as it does on the account page)."""
        account = self.get_object()
        roles.require(request.user, "reveal_personal_data")  # before validation: a viewer learns 403, not 400
        data = serializers.RevealSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.reveal_personal_data(account, user=request.user, reason=data.validated_data["reason"])
        return Response({"account_id": account.account_id, "email": account.email,
                         "signup_ip": account.signup_ip, "ips": selectors.account_ips(account)})


class ApiKeyViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.api_key_list()
    serializer_class = serializers.ApiKeySerializer
    filterset_class = filtersets.ApiKeyFilterSet
    lookup_field = "key_id"
    lookup_value_regex = "[^/]+"

    def get_object(self):
        key = one_or_none(selectors.api_key_list().filter(key_id=check_account_id(self.kwargs["key_id"])))
        if key is None:
            raise exceptions.NotFound(f"No API key {self.kwargs['key_id']!r}.")
        return key


class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.session_list()
    serializer_class = serializers.SessionSerializer
    filterset_class = filtersets.SessionFilterSet
    lookup_value_regex = "[^/]+"

    def get_object(self):
        self.kwargs["pk"] = parse_int_id(self.kwargs["pk"], "session id")
        return super().get_object()
