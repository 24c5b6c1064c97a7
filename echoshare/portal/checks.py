"""Configuration errors of the portal surface as system checks (CONVENTIONS 2)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_trusted_proxies(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for entry in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(
                Error(
                    f"ECHOSHARE_TRUSTED_PROXIES: {entry!r} is not an address or network.",
                    hint="Use addresses or CIDR networks, e.g. 127.0.0.1/32,10.0.0.0/8.",
                    id="echoshare.E101",
                )
            )
    return problems
