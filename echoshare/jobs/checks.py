"""Configuration errors of the queue, as system checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_job_timing(app_configs: Any, **kwargs: Any) -> list[Any]:
    # A worker that beats every H seconds must be allowed to miss a couple of beats (a busy
    # database, a long GC) before its jobs are taken from it and run a second time.
    if settings.JOB_STALE_SECONDS < 3 * settings.JOB_HEARTBEAT_SECONDS:
        return [
            Error(
                f"ECHOSHARE_JOB_STALE_SECONDS ({settings.JOB_STALE_SECONDS}) must be at least "
                f"three heartbeats (ECHOSHARE_JOB_HEARTBEAT_SECONDS="
                f"{settings.JOB_HEARTBEAT_SECONDS}).",
                id="echoshare.jobs.E001",
            )
        ]
    return []
