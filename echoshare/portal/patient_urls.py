"""The patient's pages under /s/<token> (the log filter redacts tokens after /s/)."""

from __future__ import annotations

from django.urls import URLPattern, path

from echoshare.portal import downloads, pages

app_name = "patient"

urlpatterns: list[URLPattern] = [
    path("s/<str:token>", pages.link, name="link"),
    path("s/<str:token>/gallery", pages.gallery, name="gallery"),
    path("s/<str:token>/photo/<str:item_id>", pages.photo, name="photo"),
    path("s/<str:token>/delete", pages.delete, name="delete"),
    path(
        "s/<str:token>/m/<str:item_id>/<str:kind>",
        downloads.media,
        name="media",
    ),
    path("s/<str:token>/zip", downloads.download_all, name="zip"),
    path("s/<str:token>/logo", downloads.logo, name="logo"),
]
