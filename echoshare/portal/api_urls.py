"""/api/v1/: the clinic-facing API (reference: /api/v1/openapi.json)."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from echoshare.portal import api

urlpatterns: list[URLPattern] = [
    path("openapi.json", api.openapi, name="portal-api-openapi"),
    path("shares", api.shares_create, name="portal-api-shares"),
    path("shares/<str:share_id>", api.share_status, name="portal-api-share"),
    path("shares/<str:share_id>/events", api.share_events, name="portal-api-share-events"),
    path("shares/<str:share_id>/extend", api.share_extend, name="portal-api-share-extend"),
    path("shares/<str:share_id>/revoke", api.share_revoke, name="portal-api-share-revoke"),
    path("shares/<str:share_id>/password", api.share_password, name="portal-api-share-password"),
    path(
        "shares/<str:share_id>/reset-lockouts",
        api.share_reset_lockouts,
        name="portal-api-share-reset-lockouts",
    ),
    path("events", api.events_feed, name="portal-api-events"),
    re_path(r"^(?P<rest>.*)$", api.not_found),
]
