from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from ingest.api import views

router = SimpleRouter()
router.register("ingest/runs", views.IngestRunViewSet, basename="ingest-run")

urlpatterns = [path("ingest/uploads/", views.UploadView.as_view(), name="ingest-upload"), *router.urls]
