"""Configuration errors surface as system checks (CONVENTIONS 2)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from echoshare.settings import _DEV_SECRET


@register()
def check_role(app_configs: Any, **kwargs: Any) -> list[Any]:
    return []


@register(deploy=True)
def check_deploy(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    if settings.SECRET_KEY == _DEV_SECRET:
        problems.append(
            Error(
                "ECHOSHARE_SECRET_KEY is the embedded default.",
                hint="Set ECHOSHARE_SECRET_KEY (or ..._FILE) to a long random value.",
                id="echoshare.E002",
            )
        )
    if settings.ROLE == "all" and not settings.DEBUG:
        problems.append(
            Warning(
                "ECHOSHARE_ROLE=all runs the clinic and the internet-facing portal in one "
                "process and one database.",
                hint="It is meant for the demo and trials; production runs the portal with "
                "ECHOSHARE_ROLE=portal on its own machine, the clinic with "
                "ECHOSHARE_ROLE=clinic.",
                id="echoshare.W001",
            )
        )
    return problems


@register(deploy=True)
def check_portal_key(app_configs: Any, **kwargs: Any) -> list[Any]:
    """A clinic tier without a portal key cannot publish nor pull share status."""
    if settings.ROLE == "clinic" and not settings.PORTAL_API_KEY:
        return [
            Error(
                "ECHOSHARE_PORTAL_API_KEY is not set: publishing and status pulls will fail.",
                hint="Create a key on the portal (echoshare portal_apikey_create) and set it.",
                id="echoshare.E003",
            )
        ]
    return []


@register()
def check_retention(app_configs: Any, **kwargs: Any) -> list[Any]:
    if settings.SERVES_CLINIC and settings.RETENTION_YEARS < 20:
        return [
            Error(
                f"ECHOSHARE_RETENTION_YEARS is {settings.RETENTION_YEARS}; the WGBO requires "
                "at least 20 years.",
                id="echoshare.E001",
            )
        ]
    return []
