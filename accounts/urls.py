"""Pages of the accounts app."""

from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("<int:pk>/", views.account_detail, name="detail"),
    path("<int:pk>/timeline/", views.account_timeline, name="timeline"),
    path("<int:pk>/neighbours/", views.account_neighbours, name="neighbours"),
    path("<int:pk>/requests/", views.account_requests, name="requests"),
    path("<int:pk>/reveal/", views.reveal, name="reveal"),
    path("<int:pk>/link/", views.link, name="link"),
    path("id/<str:account_id>/", views.by_account_id, name="by_id"),
]
