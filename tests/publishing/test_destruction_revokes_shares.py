"""Destruction on request (WGBO 7:455) also ends the exam's shares: a job after the
destruction's commit revokes them on the portal's real HTTP API, retried while the portal
cannot be reached; the destruction itself never waits for the portal."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.archive.models import DestructionRequest, Study
from echoshare.archive.retention import (
    destruction_approve,
    destruction_request,
    destructions_execute,
)
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, Publication
from echoshare.clinic.publishing import publication_run, share_publish
from echoshare.clinic.tasks import sweep_destroyed_shares
from echoshare.jobs.models import JobAttempt
from echoshare.jobs.worker import JobWorker
from echoshare.notify.sealing import unseal
from echoshare.portal.models import Share
from echoshare.portal.services import share_delete_by_patient
from tests.clinic.staff import make_staff
from tests.publishing.conftest import PATIENT, book, ingest

pytestmark = pytest.mark.django_db(transaction=True)

REVOKE_TASK = "echoshare.clinic.tasks.revoke_destroyed_shares"


def published(tmp_path: Path, appointment: Appointment | None = None) -> Publication:
    appointment = appointment or book()
    ingest(appointment, tmp_path / "in")
    publication = share_publish(appointment=appointment, user=None)
    publication = publication_run(publication_id=publication.pk)
    assert publication.state == Publication.State.SENT
    return publication


def destroy(*, appointment: Appointment, whole_exam: bool = True) -> DestructionRequest:
    """Request (alice), approve (bob) and execute a destruction of the exam or its study."""
    alice, bob = make_staff("alice", "sonographer")[0], make_staff("bob", "administrator")[0]
    target: dict[str, Any] = (
        {"appointment": appointment}
        if whole_exam
        else {"study": Study.objects.get(appointment=appointment)}
    )
    request = destruction_request(**target, requested_by=alice, reason="the patient asked")
    destruction_approve(request=request, approved_by=bob)
    assert destructions_execute() == 1
    request.refresh_from_db()
    assert request.status == DestructionRequest.Status.EXECUTED
    assert not Study.objects.filter(appointment=appointment).exists()
    return request


def revoke_jobs() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=REVOKE_TASK).order_by("enqueued_at"))


def run_revoke_job() -> DBTaskResult:
    """Run the next due revoke job the way `echoshare worker` does (retries included)."""
    worker = JobWorker(worker_id="test-worker", queue_names=["*"])
    row = DBTaskResult.objects.ready().filter(task_path=REVOKE_TASK).first()
    assert row is not None, "no revoke job is due"
    row.claim(worker.worker_id)
    worker.run_task(row)
    row.refresh_from_db()
    return row


def portal_state(publication: Publication) -> str:
    return str(Share.objects.get(public_id=publication.portal_share_id).state)


def unreachable_url() -> str:
    """A loopback address where nothing listens (a port the system just handed out)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("whole_exam", [True, False], ids=["exam", "study"])
def test_destroying_an_exam_or_its_study_revokes_its_live_share_on_the_portal(
    portal_clinic: Any, tmp_path: Path, whole_exam: bool
) -> None:
    publication = published(tmp_path)
    request = destroy(appointment=publication.appointment, whole_exam=whole_exam)
    assert portal_state(publication) == "active"  # the destruction did not call the portal

    job = run_revoke_job()

    assert job.status == TaskResultStatus.SUCCESSFUL and job.return_value == 1
    assert portal_state(publication) == "revoked"
    publication.refresh_from_db()
    assert publication.state == Publication.State.REVOKED
    assert publication.secrets_sealed == ""
    assert publication.portal_share_id  # kept: the share's id is all the portal knows
    record = AuditRecord.objects.get(event=events.SHARE_REVOKED)
    assert (record.source, record.patient_ref) == ("scheduler", PATIENT["patient_id"])
    assert record.object_ref == f"share {publication.key}"
    assert record.detail == f"destruction:{request.key}"


def test_with_the_portal_down_the_destruction_completes_and_the_retry_revokes(
    portal_clinic: Any, tmp_path: Path, settings: Any, live_server: Any
) -> None:
    settings.JOB_RETRY_BASE_SECONDS = 1
    publication = published(tmp_path)
    settings.PORTAL_API_URL = unreachable_url()

    destroy(appointment=publication.appointment)
    assert AuditRecord.objects.filter(event=events.ARCHIVE_DESTRUCTION_EXECUTED).count() == 1

    first = run_revoke_job()
    assert first.status == TaskResultStatus.FAILED
    assert first.exception_class_path == "echoshare.clinic.portal_client.PortalError"
    assert JobAttempt.objects.get(result_id=first.id).outcome == JobAttempt.Outcome.RETRIED
    publication.refresh_from_db()
    assert publication.state == Publication.State.SENT
    assert portal_state(publication) == "active"
    assert not AuditRecord.objects.filter(event=events.SHARE_REVOKED).exists()

    settings.PORTAL_API_URL = live_server.url  # the portal is back
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=True):
        second = run_revoke_job()

    assert second.status == TaskResultStatus.SUCCESSFUL
    assert portal_state(publication) == "revoked"
    publication.refresh_from_db()
    assert publication.state == Publication.State.REVOKED
    assert AuditRecord.objects.filter(event=events.SHARE_REVOKED, source="scheduler").count() == 1
    assert len(revoke_jobs()) == 2  # the first attempt and its one retry


def test_an_exam_without_shares_is_destroyed_without_a_revoke_job(
    portal_clinic: Any, tmp_path: Path
) -> None:
    appointment = book()
    ingest(appointment, tmp_path / "in")
    destroy(appointment=appointment)
    assert revoke_jobs() == []
    assert not AuditRecord.objects.filter(event=events.SHARE_REVOKED).exists()


def test_a_share_that_already_ended_is_left_alone(portal_clinic: Any, tmp_path: Path) -> None:
    appointment = book()
    revoked = published(tmp_path, appointment)
    revoked.state = Publication.State.REVOKED  # staff revoked it earlier (the clinic knows)
    revoked.save(update_fields=["state"])
    destroy(appointment=appointment)
    assert revoke_jobs() == []


def test_a_share_the_patient_deleted_meanwhile_counts_as_done(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    secrets = unseal(publication.secrets_sealed)
    token = secrets["link"].rstrip("/").rsplit("/", 1)[-1]
    destroy(appointment=publication.appointment)
    # Deleted on the portal after the destruction, before the job: the clinic has not
    # pulled that event yet, so the portal answers 409 share_ended.
    assert share_delete_by_patient(token=token, code=secrets["delete_code"]).name == "DELETED"

    job = run_revoke_job()

    assert job.status == TaskResultStatus.SUCCESSFUL and job.return_value == 0
    assert portal_state(publication) == "deleted_by_patient"
    assert not AuditRecord.objects.filter(event=events.SHARE_REVOKED).exists()


def test_a_share_still_being_published_is_revoked_and_never_sent(
    portal_clinic: Any, tmp_path: Path
) -> None:
    appointment = book()
    ingest(appointment, tmp_path / "in")
    publication = share_publish(appointment=appointment, user=None)  # its job has not run
    destroy(appointment=appointment)

    assert run_revoke_job().status == TaskResultStatus.SUCCESSFUL
    publication = publication_run(publication_id=publication.pk)  # the publish job, late

    assert publication.state == Publication.State.REVOKED
    assert publication.portal_share_id == ""
    assert not Share.objects.exists()


def test_the_hourly_sweep_revokes_what_a_job_that_gave_up_left_open(
    portal_clinic: Any, tmp_path: Path, settings: Any, live_server: Any
) -> None:
    settings.JOB_MAX_ATTEMPTS = 1
    publication = published(tmp_path)
    appointment = publication.appointment
    settings.PORTAL_API_URL = unreachable_url()
    request = destroy(appointment=appointment)
    first = run_revoke_job()
    assert JobAttempt.objects.get(result_id=first.id).outcome == JobAttempt.Outcome.GAVE_UP
    # Made after the destruction (images received again): not the destruction's business.
    later = Publication.objects.create(
        appointment=appointment,
        idempotency_key="es-made-after-the-destruction",
        expires_at=timezone.now() + timedelta(days=60),
        state=Publication.State.SENT,
        created_at=timezone.now() + timedelta(seconds=1),
    )
    settings.PORTAL_API_URL = live_server.url

    assert sweep_destroyed_shares.call() == 1

    assert portal_state(publication) == "revoked"
    record = AuditRecord.objects.get(event=events.SHARE_REVOKED)
    assert (record.source, record.detail) == ("scheduler", f"destruction:{request.key}")
    later.refresh_from_db()
    assert later.state == Publication.State.SENT
    assert sweep_destroyed_shares.call() == 0  # nothing owed any more


def test_the_sweep_is_registered_hourly() -> None:
    from echoshare.jobs.periodic import discover

    job = discover()["clinic.destroyed_shares_sweep"]
    assert job.every == timedelta(hours=1)
    assert job.task.module_path == "echoshare.clinic.tasks.sweep_destroyed_shares"
