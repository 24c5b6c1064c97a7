"""Two create requests with the same Idempotency-Key at the same moment make one share,
and both get its URL (SQLite, and PostgreSQL with DATABASE_URL=postgres://...)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from echoshare.portal.models import Share, ShareItem
from echoshare.portal.services import ShareCreated, share_create
from tests.portal.factories import cheap_argon2_hash, item_upload, make_clinic

THREADS = 4


@pytest.mark.django_db(transaction=True)
def test_parallel_creates_with_one_key_make_one_share(settings) -> None:
    clinic = make_clinic()
    hashes = cheap_argon2_hash("Kx7mPq4R"), cheap_argon2_hash("AB7K")
    barrier = threading.Barrier(THREADS)

    def create(_: int) -> ShareCreated:
        try:
            barrier.wait(timeout=30)
            return share_create(
                clinic=clinic,
                idempotency_key="parallel-key-0000000001",
                request_hash="same-request",
                password_hash=hashes[0],
                delete_code_hash=hashes[1],
                items=[item_upload("still"), item_upload("clip")],
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(create, range(THREADS)))
    assert Share.objects.count() == 1 and ShareItem.objects.count() == 2
    assert len({result.url for result in results}) == 1
    assert sum(result.created for result in results) == 1
    # The losers' files were removed: only the winner's five files remain.
    files = [p for p in Path(settings.PORTAL_MEDIA_DIR).rglob("*") if p.is_file()]
    assert len(files) == 5
