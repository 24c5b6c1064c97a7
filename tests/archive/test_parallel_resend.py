"""E2 at the service level: the same instances sent at once by parallel senders (threads with
their own database connections, as parallel associations have) are stored once each."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from echoshare.archive.models import InstanceFile
from echoshare.archive.services import IngestResult, archive_tmp_dir, instance_store
from tests.archive.conftest import DICOM_ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 4


def test_parallel_resends_leave_exactly_one_copy_each(make_dicom, archive_files):
    study_uid = "1.2.826.0.1.3680043.8.498.77"
    sources = [make_dicom(StudyInstanceUID=study_uid) for _ in range(6)]
    start = threading.Barrier(SENDERS)

    def send_all() -> list[IngestResult]:
        try:
            start.wait()
            return [instance_store(path=source, origin=DICOM_ORIGIN) for source in sources]
        finally:
            connection.close()

    with ThreadPoolExecutor(SENDERS) as pool:
        runs = [future.result() for future in [pool.submit(send_all) for _ in range(SENDERS)]]

    assert InstanceFile.objects.count() == len(sources)
    assert len(archive_files()) == len(sources)
    assert list(archive_tmp_dir().iterdir()) == []
    for index in range(len(sources)):
        results = [run[index] for run in runs]
        assert sum(result.created for result in results) == 1
        assert len({result.instance.pk for result in results}) == 1
