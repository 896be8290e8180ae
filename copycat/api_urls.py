"""REST API under /api/v1/: each app's api/urls.py, the schema and the docs (served offline
through drf-spectacular-sidecar)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from copycat.api import not_found

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("accounts.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("ingest.api.urls")),
    re_path(r"^.*$", not_found),
]
