"""A portal that times out after creating the share: the retried job replays the same
Idempotency-Key and request, so there is one share and one SMS (H2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.clinic import portal_client
from echoshare.clinic.models import Publication
from echoshare.clinic.publishing import publication_run, share_publish
from echoshare.jobs.worker import JobWorker
from echoshare.notify.models import Message
from echoshare.notify.services import messages_send_due
from echoshare.portal.models import Share
from tests.publishing.conftest import book, ingest, sms_files
from tests.publishing.slow_proxy import SlowProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_portal(portal_clinic: Any, live_server: Any, settings: Any) -> Iterator[SlowProxy]:
    proxy = SlowProxy(live_server.url, slow_path="/api/v1/shares", slow_times=1, delay=3).start()
    settings.PORTAL_API_URL = proxy.url
    settings.PORTAL_API_TIMEOUT_SECONDS = 1
    try:
        yield proxy
    finally:
        proxy.stop()


def test_timeout_after_creation_then_retry_makes_one_share_and_one_sms(
    slow_portal: SlowProxy, tmp_path: Path, settings: Any
) -> None:
    appointment = book()
    ingest(appointment, tmp_path / "in")
    publication = share_publish(appointment=appointment, user=None)

    with pytest.raises(portal_client.PortalError) as failure:
        publication_run(publication_id=publication.pk)
    assert failure.value.retryable
    publication.refresh_from_db()
    assert publication.state == Publication.State.FAILED
    assert Share.objects.count() == 1  # the portal did make it
    assert not Message.objects.filter(kind=Message.Kind.SHARE_LINK).exists()

    publication = publication_run(publication_id=publication.pk)  # the job's retry
    assert publication.state == Publication.State.SENT
    assert Share.objects.count() == 1
    assert publication.portal_share_id == Share.objects.get().public_id
    creates = [status for method, path, status in slow_portal.forwarded if path.endswith("shares")]
    assert creates == [201, 200]  # created, then replayed

    publication_run(publication_id=publication.pk)  # a stray third run changes nothing
    messages_send_due()
    assert len(sms_files(settings)) == 1
    assert Message.objects.filter(kind=Message.Kind.SHARE_LINK).count() == 1


def test_pressing_publish_again_after_a_failure_reuses_the_key(
    slow_portal: SlowProxy, tmp_path: Path
) -> None:
    appointment = book()
    ingest(appointment, tmp_path / "in")
    first = share_publish(appointment=appointment, user=None)
    with pytest.raises(portal_client.PortalError):
        publication_run(publication_id=first.pk)
    again = share_publish(appointment=appointment, user=None)
    assert again.pk == first.pk and again.idempotency_key == first.idempotency_key
    publication_run(publication_id=again.pk)
    assert Share.objects.count() == 1


def test_a_refused_share_fails_without_retry_and_gets_a_fresh_key(
    portal_clinic: Any, tmp_path: Path, settings: Any
) -> None:
    from echoshare.jobs import PermanentError

    appointment = book()
    ingest(appointment, tmp_path / "in")
    publication = share_publish(appointment=appointment, user=None)
    old_key = publication.idempotency_key
    settings.PORTAL_API_KEY = "esk_00000000_wrong"
    with pytest.raises(PermanentError):
        publication_run(publication_id=publication.pk)
    publication.refresh_from_db()
    assert publication.state == Publication.State.FAILED
    assert "401" in publication.error
    assert publication.idempotency_key != old_key and publication.request == {}


def test_the_job_queue_retries_the_publish_job_into_one_share(
    slow_portal: SlowProxy, tmp_path: Path, settings: Any
) -> None:
    """Through the real queue: pressing the button enqueues the job after commit; its first
    run times out, the queue's retry replays the key."""
    settings.JOB_RETRY_BASE_SECONDS = 1
    worker = JobWorker(worker_id="test-worker", queue_names=["*"])
    appointment = book()
    ingest(appointment, tmp_path / "in")
    share_publish(appointment=appointment, user=None)
    first = run_next(worker)
    assert first is not None and first.status == TaskResultStatus.FAILED
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=True):
        second = run_next(worker)
    assert second is not None and second.status == TaskResultStatus.SUCCESSFUL
    assert Publication.objects.get().state == Publication.State.SENT
    assert Share.objects.count() == 1


def run_next(worker: JobWorker) -> DBTaskResult | None:
    row = DBTaskResult.objects.ready().filter(task_path__startswith="echoshare.clinic").first()
    if row is None:
        return None
    row.claim(worker.worker_id)
    worker.run_task(row)
    row.refresh_from_db()
    return row


def test_the_periodic_jobs_are_registered() -> None:
    from echoshare.jobs.periodic import discover

    jobs = discover()
    assert jobs["clinic.share_status_pull"].every == timedelta(seconds=60)
    assert jobs["clinic.auto_publish"].every == timedelta(minutes=1)
