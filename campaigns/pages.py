"""Plumbing shared by the page views of all three apps: the viewer's role, what it may do,
time windows from query strings, and turning service errors into messages (never a 500)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from campaigns.errors import NotFound, ServiceError
from copycat import roles


def viewer_role(request: HttpRequest) -> str:
    """The user's role, cached on the request; a user with no role sees nothing."""
    if not hasattr(request, "_copycat_role"):
        request._copycat_role = roles.role_of(request.user)
    if request._copycat_role is None:
        raise PermissionDenied("Your account has no Copycat role yet; ask an admin to give you one.")
    return request._copycat_role


def allowed(request: HttpRequest) -> dict[str, bool]:
    """{action: bool} for every action in roles.ACTIONS, from one lookup of the user's groups."""
    role = viewer_role(request)
    rank = roles.ROLES.index(role)
    return {action: rank >= roles.ROLES.index(needed) for action, needed in roles.ACTIONS.items()}


def page(request: HttpRequest, template: str, context: dict, *, nav: str = "", status: int = 200) -> HttpResponse:
    context = {"role": viewer_role(request), "may": allowed(request), "nav": nav, **context}
    return render(request, template, context, status=status)


def back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Redirect to the page the form came from (same host only), else to ``fallback``."""
    target = request.POST.get("next") or request.headers.get("Referer") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


def write_action(view):
    """POST only; a ServiceError becomes an error message (status 400 for HTMX), a missing
    role a 403 with the message naming the role needed."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method != "POST":
            return HttpResponse("Use POST.", status=405, headers={"Allow": "POST"})
        viewer_role(request)
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            messages.error(request, str(exc))
            return page(request, "404.html", {"exception": str(exc)}, status=404)
        except ServiceError as exc:
            messages.error(request, str(exc))
            if request.htmx:
                return HttpResponse(str(exc), status=400)
            return back(request, "/")

    return wrapper


def parse_ts(text: str | None) -> datetime | None:
    """A timestamp from a query string (ISO 8601 or Plotly's 'YYYY-MM-DD HH:MM:SS.fff'), in UTC."""
    if not text or len(text) > 40:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not (2000 <= value.year <= 2100):
        return None
    return value.astimezone(UTC)


def hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def window(query, first: datetime | None, last: datetime | None, *, default_span=timedelta(days=42),
           max_span=timedelta(days=62), min_span=timedelta(hours=1)) -> tuple[datetime, datetime]:
    """The [start, end) window a timeline shows: asked for in the query, else all the activity
    (the last ``max_span`` of it for longer histories; the last ``default_span`` when the first
    activity is unknown); clamped so a chart never asks for unbounded data."""
    now = datetime.now(UTC)
    last = last or now
    end = parse_ts(query.get("end")) or (hour_floor(last) + timedelta(hours=1))
    start = parse_ts(query.get("start"))
    if start is None:
        start = max(end - max_span, hour_floor(first)) if first else end - default_span
    if end <= start:
        start, end = end, start
    if end - start < min_span:
        end = start + min_span
    if end - start > max_span:
        start = end - max_span
    return start, end


def filtered(filterset_class, data, queryset):
    """``(filterset, queryset)`` through the filterset the API uses for the same list. A page never
    fails on a bad value: invalid fields show their error on the form and are ignored, and a
    value a filter rejects while filtering leaves the list empty with the message shown."""
    filterset = filterset_class(data or None, queryset=queryset)
    try:
        return filterset, filterset.qs
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for name, problems in errors.items():
            filterset.form.add_error(name if name in filterset.form.fields else None, problems)
        return filterset, queryset.none()
