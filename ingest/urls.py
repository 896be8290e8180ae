"""Pages of the ingest app."""

from __future__ import annotations

from django.urls import path

from ingest import views

app_name = "ingest"
urlpatterns = [
    path("", views.index, name="index"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("upload/", views.upload, name="upload"),
]
