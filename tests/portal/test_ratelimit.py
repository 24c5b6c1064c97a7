"""C3: bursts from one address get 429 + Retry-After; never a lockout; addresses hashed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory

from echoshare.portal.models import RateCounter
from echoshare.portal.ratelimit import address_key, client_address, ratelimit_hit, ratelimit_prune

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, 10, tzinfo=UTC)


def test_a_burst_gets_retry_after_until_the_window_ends() -> None:
    results = [
        ratelimit_hit(scope="password", address="192.0.2.1", limit=3, now=NOON) for _ in range(5)
    ]
    assert results == [None, None, None, 50, 50]


def test_the_next_window_starts_fresh_so_there_is_no_lockout() -> None:
    for _ in range(10):
        ratelimit_hit(scope="password", address="192.0.2.1", limit=3, now=NOON)
    assert (
        ratelimit_hit(
            scope="password", address="192.0.2.1", limit=3, now=NOON + timedelta(minutes=1)
        )
        is None
    )


def test_addresses_and_scopes_are_counted_apart() -> None:
    for _ in range(3):
        ratelimit_hit(scope="password", address="192.0.2.1", limit=3, now=NOON)
    assert ratelimit_hit(scope="password", address="192.0.2.2", limit=3, now=NOON) is None
    assert ratelimit_hit(scope="delete", address="192.0.2.1", limit=3, now=NOON) is None
    assert ratelimit_hit(scope="password", address="192.0.2.1", limit=3, now=NOON) is not None


def test_addresses_are_stored_only_as_hashes_that_change_daily() -> None:
    ratelimit_hit(scope="password", address="192.0.2.99", now=NOON)
    stored = RateCounter.objects.get()
    assert "192.0.2.99" not in repr(RateCounter.objects.values().get())
    assert stored.key == address_key(scope="password", address="192.0.2.99", now=NOON)
    tomorrow = address_key(scope="password", address="192.0.2.99", now=NOON + timedelta(days=1))
    assert tomorrow != stored.key


def test_old_counters_are_pruned() -> None:
    ratelimit_hit(scope="password", address="192.0.2.1", now=NOON)
    assert ratelimit_prune(now=NOON + timedelta(hours=2)) == 0
    assert ratelimit_prune(now=NOON + timedelta(days=2)) == 1


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
    settings,
) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    factory = RequestFactory()
    direct = factory.get("/", REMOTE_ADDR="192.0.2.5", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_address(direct) == "192.0.2.5"  # a client cannot claim another address
    proxied = factory.get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1, 10.0.0.9"
    )
    assert client_address(proxied) == "198.51.100.1"  # nearest untrusted hop from the right
    only_proxies = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="10.0.0.3")
    assert client_address(only_proxies) == "10.0.0.2"
