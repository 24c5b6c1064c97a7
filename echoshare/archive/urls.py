"""Staff pages of the archive, mounted under /staff/."""

from __future__ import annotations

from django.urls import path

from echoshare.archive import views

app_name = "archive"

urlpatterns = [
    path("archive/upload/", views.upload, name="upload"),
]
