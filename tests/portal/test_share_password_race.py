"""C1 under concurrency: parallel wrong attempts cannot exceed the caps.

Runs on whichever database the suite uses: SQLite by default, PostgreSQL with
DATABASE_URL=postgres://... (./dev test-postgres). Real argon2, real threads, one
database connection per thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from echoshare.lib import secrets as lib_secrets
from echoshare.portal.models import Share
from echoshare.portal.services import PasswordResult, share_check_password
from tests.portal.factories import make_share

THREADS = 12


def _attack(share: Share, monkeypatch) -> tuple[list[PasswordResult], int]:
    """All threads try a wrong password at the same moment; returns results and argon2 runs."""
    runs = 0
    lock = threading.Lock()
    real_verify = lib_secrets.argon2_verify

    def counting_verify(stored: str, given: str) -> bool:
        nonlocal runs
        with lock:
            runs += 1
        return real_verify(stored, given)

    monkeypatch.setattr("echoshare.portal.services.argon2_verify", counting_verify)
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> PasswordResult:
        try:
            own = Share.objects.get(pk=share.pk)
            barrier.wait(timeout=30)
            return share_check_password(share=own, password="wrong-guess")
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(attempt, range(THREADS)))
    return results, runs


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_attempts_stop_at_the_soft_limit(monkeypatch) -> None:
    share, _ = make_share(items=("still",))
    results, runs = _attack(share, monkeypatch)
    share.refresh_from_db()
    assert share.failed_password_count == 10
    assert share.total_failed_password_count == 10
    assert runs == 10
    assert sum(not r.ok for r in results) == THREADS
    assert share.is_locked()


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_attempts_stop_at_the_hard_limit(monkeypatch) -> None:
    share, _ = make_share(items=("still",))
    Share.objects.filter(pk=share.pk).update(total_failed_password_count=45)
    _, runs = _attack(share, monkeypatch)
    share.refresh_from_db()
    assert runs == 5
    assert share.total_failed_password_count == 50
    assert share.hard_locked
