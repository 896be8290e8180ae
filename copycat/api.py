"""Shared DRF pieces: errors as JSON that say what to fix, role permissions, pagination,
strict filtering and id parsing."""

from __future__ import annotations

import base64
import datetime
import functools
import logging
from urllib import parse

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_filters.filters import OrderingFilter
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.utils import OpenApiResponse
from rest_framework import (
    ISO_8601,
    authentication,
    exceptions,
    negotiation,
    pagination,
    permissions,
    relations,
    serializers,
    status,
)
from rest_framework.response import Response
from rest_framework.settings import api_settings

from campaigns.errors import Conflict, InvalidInput, NotFound
from copycat import roles
from copycat.text import is_whole_number

logger = logging.getLogger(__name__)

# Query parameters every list takes besides its filters.
COMMON_PARAMS = {"cursor", "page_size", "format"}


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The change conflicts with the current state."
    default_code = "conflict"


def _first_message(detail) -> str:
    """A one-line summary of a DRF error detail (dict, list or string)."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            text = _first_message(value)
            return text if field in ("non_field_errors", "detail", "__all__") else f"{field}: {text}"
        return "The request is not valid."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "The request is not valid."
    return str(detail)


_FALLBACK = {
    400: "The request is not valid; see detail.",
    401: "Authenticate with the header `Authorization: Token KEY` (python manage.py create_user NAME "
         "--role ROLE --token makes one).",
    403: "Your role does not allow this.",
    404: "Nothing here by that id or path; check it.",
    405: "This method is not allowed here.",
    409: "The change conflicts with the current state.",
}


def _translate(exc: Exception) -> Exception:
    """Django and service errors as the DRF exception of the right status."""
    if isinstance(exc, (Http404, ObjectDoesNotExist, NotFound)):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Conflict):
        return ConflictError(str(exc))
    if isinstance(exc, InvalidInput):
        return exceptions.ValidationError({"detail": str(exc)})
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return exceptions.ValidationError(detail)
    if isinstance(exc, DataError):
        return exceptions.ValidationError({"detail": "A value is out of range or of the wrong type for its field: "
                                                     f"{str(exc).splitlines()[0]}"})
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ValidationError({"detail": str(exc) or "The request was refused as unsafe."})
    return exc


def exception_handler(exc, context):
    """Every error as ``{"error": "<what to fix>", "detail": ...}`` with its status."""
    from rest_framework.views import (
        exception_handler as drf_exception_handler,  # (circular at import time)
    )

    exc = _translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    detail = response.data
    if isinstance(detail, dict) and set(detail) == {"detail"} and not isinstance(detail["detail"], (list, dict)):
        message = str(detail["detail"])
        detail = None
    else:
        message = _first_message(detail)
    if response.status_code == 401:
        message = f"{message} {_FALLBACK[401]}"
    response.data = {"error": message or _FALLBACK.get(response.status_code, "Error."), "detail": detail}
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """JSON 404 for any path under /api/v1/ that names no endpoint."""
    return JsonResponse({"error": f"No API endpoint at {request.path}; see /api/v1/docs/.", "detail": None},
                        status=404)


not_found.login_required = False


# Error responses of write endpoints, for the schema.
ERRORS = {400: OpenApiResponse(description="Bad input: `{error, detail}`"),
          403: OpenApiResponse(description="Your role may not"),
          404: OpenApiResponse(description="No such campaign or account"),
          409: OpenApiResponse(description="Conflicts with the current state")}


# --- authentication and permissions --------------------------------------------------------


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token check in one plain query that also reads the user's role names.

    Every API call runs this. DRF's own class made two ORM queries (the token with its user,
    then the groups for the role check): building them cost more than running them, a fifth of
    a small call's time under load. Nothing is cached across requests, so a revoked token or a
    changed role takes effect on the next call.
    """

    def authenticate_credentials(self, key):
        from django.contrib.auth import get_user_model
        from django.db import connection
        from rest_framework.authtoken.models import Token

        user_model = get_user_model()
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(user_model), [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = user_model.from_db(connection.alias, [f.attname for f in user_model._meta.concrete_fields],
                                  row[:-1])
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        roles.remember_groups(user, row[-1])
        return user, Token(key=key, user=user)


@functools.cache
def _token_sql(user_model) -> str:
    from rest_framework.authtoken.models import Token

    through = user_model.groups.through._meta
    selected = ", ".join(f'u."{f.column}"' for f in user_model._meta.concrete_fields)
    return (f'SELECT {selected}, ARRAY(SELECT g.name FROM auth_group g JOIN "{through.db_table}" ug '
            f'ON ug."{through.get_field("group").column}" = g.id '
            f'WHERE ug."{through.get_field("user").column}" = u.id) '
            f'FROM "{Token._meta.db_table}" t JOIN "{user_model._meta.db_table}" u ON u.id = t.user_id '
            f"WHERE t.key = %s")


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """An unknown ``?format=`` is a 400 naming the formats the endpoint has (DRF answers 404)."""

    def filter_renderers(self, renderers, format):
        kept = [renderer for renderer in renderers if renderer.format == format]
        if not kept:
            raise exceptions.ValidationError({"format": f"Unknown format {format!r}; this endpoint gives: "
                                                        f"{', '.join(r.format for r in renderers)}."})
        return kept


class JSONErrorsMixin:
    """Errors as JSON whatever format the call asked for (the blocklist's CSV, the schema's
    YAML): a script reading the error should not have to parse a CSV or YAML message."""

    def finalize_response(self, request, response, *args, **kwargs):
        renderer = getattr(request, "accepted_renderer", None)
        if response.status_code >= 400 and renderer is not None and renderer.format not in ("json", "api"):
            request.accepted_renderer, request.accepted_media_type = ORJSONRenderer(), ORJSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class HasRole(permissions.BasePermission):
    """Reads need the viewer role; writes are checked by the services (roles.require), which
    raise PermissionDenied naming the role needed. A signed-in user without a role sees nothing."""

    message = "Your account has no Copycat role; ask an admin to give you one (viewer, analyst, lead or admin)."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return roles.has_role(request.user, roles.VIEWER)


def require(user, action: str) -> None:
    """roles.require, for views that write without a service doing the check."""
    roles.require(user, action)


# --- serialization --------------------------------------------------------------------------


class FlatRepresentation:
    """Serializer mixin: the same output as DRF's field-by-field walk, several times faster.

    Lists of requests, accounts and members are up to hundreds of rows a call, and DRF's walk
    (get_attribute, SkipField checks, isinstance tests per field) was most of those calls'
    time. The plan (field name, attribute path, how to represent) is built once per serializer
    class unless a field depends on its serializer instance in a way the plan cannot bind per
    instance (hyperlinks; method fields of nested serializers), so building a ModelSerializer's
    fields (a third of a millisecond) is not paid on every call; each instance binds the plan
    to itself (method fields, the current time zone) once. Each value still goes through its
    field's own ``to_representation``, except ISO date-times, which take a fast path with the
    same output (DRF looked up the current time zone once per value). A primary-key related
    field reads the ``<fk>_id`` column, as DRF's own shortcut does.
    tests/api/test_flat_representation.py holds the output equal to DRF's.
    """

    _flat_shared_plans: dict = {}

    def _flat_plan(self, instance):
        plan = getattr(self, "_flat_plan_cache", None)
        if plan is None:
            cls = type(self)
            # Rows may be model instances or plain dicts (see ``nested``).
            model = getattr(getattr(cls, "Meta", None), "model", None) or type(instance)
            steps = FlatRepresentation._flat_shared_plans.get(cls)
            if steps is None:
                if all(_instance_free(field) for field in self._readable_fields):
                    # From a bare instance: a shared plan must not keep this call's request,
                    # context or rows alive.
                    steps = [self._flat_step(field, model) for field in cls()._readable_fields]
                    FlatRepresentation._flat_shared_plans[cls] = steps
                else:
                    steps = [self._flat_step(field, model) for field in self._readable_fields]
            plan = self._flat_plan_cache = _bind(steps, self)
        return plan

    @staticmethod
    def _flat_step(field, model):
        """(name, attribute path, how to represent, the value type that is already its own
        representation, e.g. a str for a plain CharField, so no call is needed)."""
        if isinstance(field, relations.ManyRelatedField):
            raise TypeError(f"{field.field_name}: FlatRepresentation does not handle many-related fields")
        if isinstance(field, relations.RelatedField) and field.use_pk_only_optimization():
            attname = model._meta.get_field(field.source).attname
            return (field.field_name, (attname,),
                    lambda pk, f=field: f.to_representation(relations.PKOnlyObject(pk)), None)
        if _plain_slug(field):  # walking to the slug attribute reads dict rows too
            return field.field_name, (*field.source_attrs, field.slug_field), _same, None
        if isinstance(field, serializers.SerializerMethodField):
            return field.field_name, (), _Method(field.method_name), None  # bound by _bind
        path = () if field.source == "*" else tuple(field.source_attrs)
        if _iso_datetime(field):
            return field.field_name, path, field, None  # represented by _bind's fast path
        return field.field_name, path, field.to_representation, _as_is(field)

    def to_representation(self, instance):
        out = {}
        for name, path, represent, as_is in self._flat_plan(instance):
            value = instance
            for attr in path:
                value = value.get(attr) if isinstance(value, dict) else getattr(value, attr, None)
                if value is None:
                    break
            out[name] = None if value is None else value if type(value) is as_is else represent(value)
        return out


def _same(value):
    return value


def _plain_slug(field) -> bool:
    """A slug-related field whose output is the slug attribute's value as it is (DRF's own)."""
    return (isinstance(field, relations.SlugRelatedField)
            and type(field).to_representation is relations.SlugRelatedField.to_representation)


def plain_page(view, queryset, serializer_class) -> Response:
    """A cursor page of ``queryset`` serialised from plain ``values()`` rows: building a model
    instance for each row and each joined row was a third of a 50-row list's time. The rows
    carry the serializer's columns and the sort keys the cursor reads."""
    keys = row_fields(serializer_class)
    sort_keys = [k.lstrip("-") for k in view.paginator.get_ordering(view.request, queryset, view)]
    rows = view.paginate_queryset(queryset.values(*keys, *(k for k in sort_keys if k not in keys)))
    serializer = serializer_class(nested(rows), many=True, context=view.get_serializer_context())
    return view.get_paginated_response(serializer.data)


class PlainRowsListMixin:
    """A list endpoint answered by ``plain_page`` (its serializer must read columns only)."""

    def list(self, request, *args, **kwargs):
        return plain_page(self, self.filter_queryset(self.get_queryset()), self.get_serializer_class())


@functools.cache
def row_fields(serializer_class, prefix: str = "") -> tuple[str, ...]:
    """The ``values()`` keys a FlatRepresentation serializer reads, so a list can select plain
    rows (see ``nested``) and keep in step with the serializer's fields."""
    model = serializer_class.Meta.model
    keys = []
    for field in serializer_class()._readable_fields:
        if isinstance(field, serializers.BaseSerializer):
            keys += row_fields(type(field), f"{prefix}{field.source}__")
        elif isinstance(field, relations.RelatedField) and field.use_pk_only_optimization():
            keys.append(prefix + model._meta.get_field(field.source).attname)
        elif _plain_slug(field):
            keys.append(f"{prefix}{'__'.join(field.source_attrs)}__{field.slug_field}")
        elif isinstance(field, serializers.SerializerMethodField) or field.source == "*":
            raise TypeError(f"{field.field_name}: not a column; serialise model instances instead")
        else:
            keys.append(prefix + "__".join(field.source_attrs))
    return tuple(keys)


def nested(rows: list[dict]) -> list[dict]:
    """``values()`` rows with ``a__b`` keys as nested dicts ({"a": {"b": ...}}), the shape of
    the model instances a serializer's attribute paths walk. Every row of a ``values()`` list
    has the same keys, so they are split once."""
    if not rows:
        return []
    flat = [key for key in rows[0] if "__" not in key]
    deep = [(key, key.split("__")) for key in rows[0] if "__" in key]
    out = []
    for row in rows:
        tree = {key: row[key] for key in flat}
        for key, (*parents, leaf) in deep:
            node = tree
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = row[key]
        out.append(tree)
    return out


# Field classes whose to_representation gives back a value of this exact type unchanged
# (str(s), int(i), float(f); a boolean stays itself).
_AS_IS = {serializers.CharField: str, serializers.IntegerField: int, serializers.FloatField: float,
          serializers.BooleanField: bool}


def _as_is(field) -> type | None:
    if type(field) is serializers.ChoiceField:  # a valid choice comes back as itself
        return str if all(type(key) is str for key in field.choices) else None
    return _AS_IS.get(type(field))


def _instance_free(field, nested: bool = False) -> bool:
    """Whether one plan can serve every instance of the serializer class for this field: its
    output depends only on the value, or (a method field) on the instance _bind binds it to.
    A nested serializer is shared by every parent instance, so its method fields are not."""
    if isinstance(field, serializers.SerializerMethodField):
        return not nested
    if isinstance(field, (relations.HyperlinkedRelatedField, serializers.HyperlinkedIdentityField)):
        return False
    if isinstance(field, serializers.BaseSerializer):
        return isinstance(field, FlatRepresentation) and all(_instance_free(f, True) for f in field._readable_fields)
    return True


class _Method:
    """A method field's step in a shared plan: the method is looked up on each instance."""

    def __init__(self, name: str):
        self.name = name


def _iso_datetime(field) -> bool:
    if type(field) is not serializers.DateTimeField or hasattr(field, "timezone"):
        return False
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return isinstance(output, str) and output.lower() == ISO_8601


def _bind(steps, serializer):
    """The plan for one serializer instance: method fields bound to it, date-times to the
    current time zone (looked up once per list), nested serializers told to bind afresh."""
    bound = []
    for name, path, represent, as_is in steps:
        if isinstance(represent, serializers.DateTimeField):
            represent = iso_datetime(represent)
        elif isinstance(represent, _Method):
            represent = getattr(serializer, represent.name)
        elif isinstance(getattr(represent, "__self__", None), FlatRepresentation):
            represent.__self__._flat_plan_cache = None  # shared with the first instance: rebind
        bound.append((name, path, represent, as_is))
    return bound


def iso_datetime(field: serializers.DateTimeField | None = None):
    """A function giving what ``field.to_representation`` gives (ISO 8601, in the current time
    zone, "Z" for UTC) with the time zone looked up once, not once per value."""
    field = field or serializers.DateTimeField()
    tz = timezone.get_current_timezone() if settings.USE_TZ else None

    def represent(value):
        if tz is None or type(value) is not datetime.datetime or value.tzinfo is None:
            return field.to_representation(value)  # naive or odd values: DRF's own path
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


# --- pagination -----------------------------------------------------------------------------


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination: no OFFSET, stable under inserts. Sort order comes from the filterset's
    ``ordering`` (validated there) with the primary key as the tie-breaker.

    A cursor holds every sort value of the row it starts after (or, going back, before), and
    the page is the rows beyond that whole tuple. DRF's own cursor keeps the first value and an
    offset among its ties, which walked backwards over ties repeats and skips rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
    invalid_cursor_message = "This cursor is not valid; use the `next` or `previous` link of a page."

    def paginate_queryset(self, queryset, request, view=None):
        self.request, self.base_url = request, request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        # A NULL sort value cannot be compared: a nullable key pages over a NULL-free copy.
        keys, annotations = _null_safe(queryset.model, self.get_ordering(request, queryset, view))
        self.sort_keys = keys  # what the links' cursors hold (``ordering`` stays the default)
        if annotations:
            queryset = queryset.annotate(**annotations)
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        queryset = queryset.order_by(*(_flip(key) for key in keys) if reverse else keys)
        try:
            if self.cursor:
                if len(self.cursor.position) != len(keys):
                    raise ValueError("a cursor of another sort order")
                queryset = queryset.filter(_beyond(keys, self.cursor.position, reverse))
            rows = list(queryset[:self.page_size + 1])
        except (ValueError, TypeError, DjangoValidationError, DataError):
            if not self.cursor:
                raise
            # Made by hand, or for another sort: its values do not fit the sort keys.
            raise exceptions.ValidationError({"cursor": self.invalid_cursor_message}) from None
        more = len(rows) > self.page_size
        self.page = rows[:self.page_size]
        if reverse:
            self.page.reverse()
        self.has_next = True if reverse else more  # going back, the page we came from follows
        self.has_previous = more if reverse else self.cursor is not None
        self.display_page_controls = (self.has_next or self.has_previous) and self.template is not None
        return self.page

    def get_next_link(self):
        if not (self.has_next and self.page):
            return None
        return self.encode_cursor(pagination.Cursor(offset=0, reverse=False, position=self._position(self.page[-1])))

    def get_previous_link(self):
        if not (self.has_previous and self.page):
            return None
        return self.encode_cursor(pagination.Cursor(offset=0, reverse=True, position=self._position(self.page[0])))

    def _position(self, row) -> list[str]:
        """The row's sort values, as text for the cursor (a ``values()`` row has them under the
        sort keys themselves; a model instance along their attribute paths)."""
        values = []
        for key in self.sort_keys:
            name = key.lstrip("-")
            if isinstance(row, dict):
                value = row[name]
            else:
                value = row
                for attr in name.split("__"):
                    value = getattr(value, attr)
            values.append(value.isoformat() if isinstance(value, datetime.datetime) else str(value))
        return values

    def get_ordering(self, request, queryset, view):
        wanted = request.query_params.get("ordering")
        if wanted:
            # The filterset has checked the names already; its OrderingFilter maps each one the
            # API shows (``requests``) to the field it sorts (``account__request_count``).
            names = _ordering_names(view)
            fields = []
            for name in (f.strip() for f in wanted.split(",")):
                if name:
                    field = names.get(name.lstrip("-"), name.lstrip("-"))
                    fields.append(f"-{field}" if name.startswith("-") else field)
            if fields:  # "ordering=," names no field: the default order
                tie = "-id" if fields[-1].startswith("-") else "id"
                if fields[-1].lstrip("-") != "id":
                    fields.append(tie)
                return tuple(fields)
        return tuple(getattr(view, "cursor_ordering", None) or (self.ordering,))

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            text = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
            return pagination.Cursor(offset=0, reverse=tokens.get("r", ["0"]) == ["1"], position=tuple(tokens["p"]))
        except (ValueError, UnicodeError, KeyError):  # binascii.Error is a ValueError
            raise exceptions.ValidationError({"cursor": self.invalid_cursor_message}) from None

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = int(raw)
            except ValueError:
                raise exceptions.ValidationError({"page_size": f"{raw!r} is not a whole number."}) from None
            if not 1 <= size <= self.max_page_size:
                raise exceptions.ValidationError({"page_size": f"Give a page size from 1 to {self.max_page_size}."})
        return super().get_page_size(request)


def _ordering_names(view) -> dict[str, str]:
    """The sort names a list's filterset takes, each with the field it sorts by."""
    filterset_class = getattr(view, "filterset_class", None)
    for flt in getattr(filterset_class, "base_filters", {}).values():
        if isinstance(flt, OrderingFilter):
            return flt.param_map
    return {}


# The lowest value of each nullable sort key's type, standing in for NULL in a cursor.
_NULL_AS = {"DateTimeField": datetime.datetime(1, 1, 1, tzinfo=datetime.UTC), "IntegerField": -(2**31),
            "BigIntegerField": -(2**63), "FloatField": float("-inf")}


def _null_safe(model, ordering: tuple[str, ...]) -> tuple[tuple[str, ...], dict]:
    """``ordering`` with each key whose field may be NULL swapped for a non-NULL copy (NULL as
    the lowest value of its type), and the annotations that make the copies."""
    keyed, annotations = [], {}
    for key in ordering:
        name = key.lstrip("-")
        try:
            field = _field_at(model, name)
        except FieldDoesNotExist:  # an annotation or alias: taken as it is
            keyed.append(key)
            continue
        lowest = _NULL_AS.get(field.get_internal_type())
        if not field.null or lowest is None:
            keyed.append(key)
            continue
        alias = "cursor_" + name.replace("__", "_")
        keyed.append(key.replace(name, alias))
        annotations[alias] = Coalesce(F(name), Value(lowest), output_field=field)
    return tuple(keyed), annotations


def _flip(key: str) -> str:
    return key[1:] if key.startswith("-") else f"-{key}"


def _beyond(keys: tuple[str, ...], values: tuple[str, ...], reverse: bool) -> Q:
    """Rows after the row with these sort values in the order ``keys`` give (before it when
    ``reverse``): (k1 beyond v1) or (k1 = v1 and k2 beyond v2) or ..."""
    beyond, equal = Q(pk__in=[]), Q()
    for key, value in zip(keys, values, strict=True):
        name = key.lstrip("-")
        op = "lt" if key.startswith("-") != reverse else "gt"
        beyond |= equal & Q(**{f"{name}__{op}": value})
        equal &= Q(**{name: value})
    return beyond


def _field_at(model, path: str):
    *links, last = path.split("__")
    for link in links:
        model = model._meta.get_field(link).related_model
    return model._meta.get_field(last)


# --- filtering ------------------------------------------------------------------------------


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter through ``strict_filter``: a 400 for a query parameter that is no filter of
    this list (a typo would otherwise silently return everything)."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        return strict_filter(filterset_class, request, queryset, getattr(view, "extra_params", ()))


def strict_filter(filterset_class, request, queryset, extra_params=()):
    """``queryset`` filtered by the request's query parameters through ``filterset_class``, for
    a list endpoint: an unknown parameter or a bad value is a 400 that says what to send."""
    filters = set(filterset_class.base_filters)
    unknown = sorted(set(request.query_params) - filters - COMMON_PARAMS - set(extra_params))
    if unknown:
        raise exceptions.ValidationError({
            unknown[0]: f"Unknown filter {unknown[0]!r}; this list filters on: {', '.join(sorted(filters))}."})
    if not set(request.query_params) & filters:
        # No filter asked: a filterset would change nothing, and building one (a deep copy of
        # every filter, then a form) was a quarter of an unfiltered list's time.
        return queryset
    filterset = _narrowed(filterset_class, frozenset(request.query_params) & filters)(
        request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise _name_the_choices(translate_validation(filterset.errors), filterset_class)
    return filterset.qs


@functools.lru_cache(maxsize=512)
def _narrowed(filterset_class, names: frozenset[str]):
    """``filterset_class`` with only the filters a request names. A filter whose parameter is
    absent does nothing, yet each filterset deep-copies every filter and builds a form field for
    it: for the 22 account filters that was most of a filtered list's overhead."""
    narrowed = type(filterset_class.__name__, (filterset_class,), {"__module__": filterset_class.__module__})
    narrowed.base_filters = {name: flt for name, flt in filterset_class.base_filters.items() if name in names}
    return narrowed


def _name_the_choices(exc: exceptions.ValidationError, filterset_class) -> exceptions.ValidationError:
    """Django's "Select a valid choice. x is not one of the available choices." lists none of
    them: add them, so the message says what to send instead."""
    if not isinstance(exc.detail, dict):
        return exc
    detail = {}
    for name, messages in exc.detail.items():
        choices = filterset_class.base_filters[name].extra.get("choices") if name in filterset_class.base_filters \
            else None
        if choices and any("valid choice" in str(m) for m in messages):
            messages = [f"{m} Use one of: {', '.join(str(value) for value, _ in choices)}." for m in messages]
        detail[name] = messages
    return exceptions.ValidationError(detail)


def query(serializer_class, request) -> dict:
    """The query parameters of an endpoint that takes them through a serializer (timelines,
    windows), validated; a parameter it does not take is a 400 naming the ones it does, as
    on the filtered lists (a typo would otherwise silently give the default)."""
    serializer = serializer_class(data=request.query_params)
    unknown = sorted(set(request.query_params) - set(serializer.fields) - {"format"})
    if unknown:
        raise exceptions.ValidationError({unknown[0]: f"Unknown parameter {unknown[0]!r}; this endpoint takes: "
                                                      f"{', '.join(sorted(serializer.fields))}."})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_int_id(value, what: str = "id") -> int:
    """A path id as an integer, or a 400 that says so (never a 500 or a 404 for 'abc')."""
    text = str(value)
    if not is_whole_number(text):
        raise exceptions.ValidationError({"id": f"{value!r} is not a valid {what}: give a whole number."})
    number = int(text)
    if not 1 <= number <= 2**31 - 1:
        raise exceptions.ValidationError({"id": f"{value!r} is out of range for a {what}."})
    return number


class IntIdLookupMixin:
    """Viewsets whose objects have integer ids: a malformed id is a 400, a missing one a 404."""

    lookup_value_regex = "[^/]+"
    id_label = "id"

    def get_object(self):
        kwarg = self.lookup_url_kwarg or self.lookup_field
        self.kwargs[kwarg] = parse_int_id(self.kwargs[kwarg], self.id_label)
        return super().get_object()


def message(text: str, status_code: int = 200, **extra) -> Response:
    return Response({"message": text, **extra}, status=status_code)
