"""URL map: the apps of the configured tier (ECHOSHARE_ROLE) and /healthz."""

from __future__ import annotations

from importlib.util import find_spec

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from echoshare.core.health import healthz

urlpatterns: list[URLPattern | URLResolver] = [path("healthz", healthz, name="healthz")]


def _app_urls(module: str) -> bool:
    return find_spec(module) is not None


if settings.SERVES_PORTAL and _app_urls("echoshare.portal.urls"):
    urlpatterns.append(path("", include("echoshare.portal.urls")))

if settings.SERVES_CLINIC:
    from django.contrib import admin

    for _module in (
        "echoshare.clinic.urls",
        "echoshare.archive.urls",
        "echoshare.imaging.urls",
        "echoshare.notify.urls",
        "echoshare.audit.urls",
    ):
        if _app_urls(_module):
            urlpatterns.append(path("staff/", include(_module)))
    urlpatterns.append(path("staff/admin/", admin.site.urls))
