"""Pages of the campaigns app."""

from __future__ import annotations

app_name = "campaigns"
urlpatterns: list = []
