"""Pages of the campaigns app."""

from __future__ import annotations

from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("search/", views.search, name="search"),
    path("detection/start/", views.start_detection, name="start_detection"),
    path("campaigns/", views.campaign_list, name="list"),
    path("campaigns/bulk-status/", views.bulk_status, name="bulk_status"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="detail"),
    path("campaigns/<int:pk>/timeline/", views.campaign_timeline, name="timeline"),
    path("campaigns/<int:pk>/infrastructure/", views.campaign_infra, name="infra"),
    path("campaigns/<int:pk>/candidates/", views.campaign_candidates, name="candidates"),
    path("campaigns/<int:pk>/members/", views.campaign_members, name="members"),
    path("campaigns/<int:pk>/requests/", views.campaign_requests, name="requests"),
    path("campaigns/<int:pk>/status/", views.change_status, name="status"),
    path("campaigns/<int:pk>/edit/", views.edit_campaign, name="edit"),
    path("campaigns/<int:pk>/link/", views.link, name="link"),
    path("campaigns/<int:pk>/unlink/", views.unlink, name="unlink"),
    path("campaigns/<int:pk>/notes/", views.add_note, name="note"),
    path("campaigns/<int:pk>/packets/", views.request_packet, name="packet"),
]
