from __future__ import annotations

from rest_framework.routers import SimpleRouter

from accounts.api import views

router = SimpleRouter()
router.register("accounts", views.AccountViewSet, basename="account")
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("sessions", views.SessionViewSet, basename="session")

urlpatterns = router.urls
