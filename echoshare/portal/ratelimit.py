"""Bursts from one client address get 429 with Retry-After (SECURITY C3).

Never a hard lockout per address: patients share mobile-carrier addresses, so a counter
only slows a burst down for the rest of its window. Counters live in the database (several
web workers), keyed by an HMAC of the address under a key that rotates daily (G2). The
real client address behind nginx comes from X-Forwarded-For only when the direct peer is
one of ECHOSHARE_TRUSTED_PROXIES.

    retry_after = ratelimit_hit(scope="password", address=client_address(request))
    if retry_after is not None:
        ...answer 429 with a Retry-After: retry_after header
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from echoshare.core.client_address import client_address as core_client_address
from echoshare.lib.secrets import keyed_hash
from echoshare.portal.models import RateCounter

WINDOW = timedelta(minutes=1)


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind trusted proxies the nearest untrusted
    hop of X-Forwarded-For (see echoshare.core.client_address)."""
    return core_client_address(request.META)


def address_key(*, scope: str, address: str, now: datetime) -> str:
    """HMAC of the address under today's key: stable within a day, unlinkable across days."""
    day_key = keyed_hash(settings.TOKEN_HASH_KEY, f"client-address-day:{now:%Y-%m-%d}")
    return keyed_hash(day_key, f"{scope}:{address}")


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def ratelimit_hit(
    *,
    scope: str,
    address: str,
    limit: int | None = None,
    window: timedelta = WINDOW,
    now: datetime | None = None,
) -> int | None:
    """Count one request; the seconds to wait when this one is over the limit, else None."""
    now = now or timezone.now()
    limit = settings.PORTAL_BURST_LIMIT if limit is None else limit
    key = address_key(scope=scope, address=address, now=now)
    start = _window_start(now, window)
    counters = RateCounter.objects.filter(key=key, window_start=start)
    if not counters.update(count=F("count") + 1):
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=key, window_start=start, count=1)
        except IntegrityError:  # a parallel request created it first
            counters.update(count=F("count") + 1)
    count = counters.values_list("count", flat=True).first() or 0
    if count <= limit:
        return None
    return max(1, math.ceil((start + window - now).total_seconds()))


def ratelimit_prune(*, now: datetime | None = None) -> int:
    """Drop counters of windows that ended more than a day ago."""
    now = now or timezone.now()
    deleted, _ = RateCounter.objects.filter(window_start__lt=now - timedelta(days=1)).delete()
    return deleted
