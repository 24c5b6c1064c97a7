"""Portal URLs: the clinic-facing API under /api/v1/ and the patient pages."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("echoshare.portal.api_urls")),
    path("", include("echoshare.portal.patient_urls")),
]
