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
