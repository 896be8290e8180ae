"""REST API under /api/v1/: each app's api/urls.py, the schema and the docs."""

from __future__ import annotations

urlpatterns: list = []
