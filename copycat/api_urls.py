"""REST API under /api/v1/: each app's api/urls.py, the schema and the docs (served offline
through drf-spectacular-sidecar)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from copycat.api import JSONErrorsMixin, not_found


class SchemaView(JSONErrorsMixin, SpectacularAPIView):
    pass


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    # A page for people: without a session it sends them to the sign-in page, not a bare 401.
    path("docs/", login_required(SpectacularSwaggerView.as_view(url_name="schema")), name="docs"),
    path("", include("accounts.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("ingest.api.urls")),
    re_path(r"^.*$", not_found),
]
