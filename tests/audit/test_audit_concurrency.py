"""Appends from parallel threads line up: no duplicate sequence number, an intact chain."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_record, audit_verify

THREADS = 6
PER_THREAD = 10


@pytest.mark.django_db(transaction=True)
def test_parallel_appends_keep_the_chain_intact():
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def append(worker: int) -> None:
        try:
            start.wait()
            for i in range(PER_THREAD):
                with transaction.atomic():
                    audit_record(event=events.IMAGE_STORED, object_ref=f"{worker}-{i}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = sorted(AuditRecord.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, THREADS * PER_THREAD + 1))
    report = audit_verify()
    assert report.ok, report.reason
    assert report.checked == THREADS * PER_THREAD
