from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from campaigns.api import views

router = SimpleRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("detection-runs", views.DetectionRunViewSet, basename="detection-run")
router.register("packets", views.EvidencePacketViewSet, basename="packet")
router.register("audit", views.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("health/", views.HealthView.as_view(), name="health"),
    path("me/", views.MeView.as_view(), name="me"),
    *router.urls,
]
