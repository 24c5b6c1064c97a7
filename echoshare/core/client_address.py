"""The client's address as the web server sees it, and its pseudonym for the access log.

Addresses are personal data and the portal's logs must not hold them (DESIGN, SECURITY G2):
the access log writes `client_hash(address)`, an HMAC under a key that changes every UTC day
(derived the same way as the portal's rate-limit keys, echoshare.portal.ratelimit). The same
address gives the same pseudonym all day, an unrelated one the next day.

Behind nginx the peer is the proxy: when it is one of ECHOSHARE_TRUSTED_PROXIES, the client
is the right-most X-Forwarded-For entry that is not a trusted proxy (entries further left
were written by the client itself and are never trusted).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, date, datetime

from django.conf import settings

from echoshare.lib.secrets import keyed_hash


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in settings.TRUSTED_PROXIES)


def client_address(environ: Mapping[str, str]) -> str:
    """The client's address from a WSGI environ (or `request.META`)."""
    peer = environ.get("REMOTE_ADDR", "") or ""
    if not _trusted(peer):
        return peer
    hops = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop):
            return hop
    return peer


def client_hash(address: str, *, day: date | None = None) -> str:
    """A 64-bit pseudonym of `address`, stable for one UTC day."""
    day = day or datetime.now(UTC).date()
    day_key = keyed_hash(settings.TOKEN_HASH_KEY, f"client-address-day:{day:%Y-%m-%d}")
    return keyed_hash(day_key, f"log:{address}")[:16]
