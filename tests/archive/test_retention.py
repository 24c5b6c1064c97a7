"""E5: nothing archived is deleted before retain_until except by the two-person, audited
destruction on request (WGBO 7:455), which the scheduler carries out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.db import transaction
from django.test import RequestFactory

from echoshare.archive.models import (
    ArchiveDeletionRefused,
    DestructionRequest,
    Instance,
    InstanceFile,
    Study,
)
from echoshare.archive.retention import (
    DestructionRefused,
    destruction_approve,
    destruction_request,
    destructions_execute,
)
from echoshare.archive.services import instance_store
from echoshare.archive.tasks import execute_destructions
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, Patient
from tests.archive.conftest import DICOM_ORIGIN
from tests.clinic.staff import make_staff

pytestmark = pytest.mark.django_db

EXAM_DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def study(make_dicom) -> Study:
    with time_machine.travel(EXAM_DAY, tick=False):
        patient = Patient.objects.create(
            patient_id="P42", family_name="Visser", birth_date=date(1991, 1, 1)
        )
        Appointment.objects.create(
            patient=patient, scheduled_at=EXAM_DAY, exam_type="echo", accession_number="A42"
        )
        study_uid = "1.2.826.0.1.3680043.8.498.42"
        for _ in range(2):
            instance_store(
                path=make_dicom(
                    StudyInstanceUID=study_uid, AccessionNumber="A42", StudyDate="20260302"
                ),
                origin=DICOM_ORIGIN,
            )
    return Study.objects.get()


def _files(settings) -> list[Path]:
    return sorted(p for p in (Path(settings.ARCHIVE_DIR) / "files").rglob("*") if p.is_file())


class TestEarlyDeletionIsRefused:
    def test_model_delete_is_refused(self, study, settings):
        for obj in (study, Instance.objects.first(), InstanceFile.objects.first()):
            with pytest.raises(ArchiveDeletionRefused), transaction.atomic():
                obj.delete()
        assert (Study.objects.count(), Instance.objects.count(), InstanceFile.objects.count()) == (
            1,
            2,
            2,
        )
        assert len(_files(settings)) == 2

    def test_queryset_delete_is_refused(self, study):
        for queryset in (Study.objects.all(), Instance.objects.all(), InstanceFile.objects.all()):
            with pytest.raises(ArchiveDeletionRefused), transaction.atomic():
                queryset.delete()
        assert InstanceFile.objects.count() == 2

    def test_deleting_the_appointment_does_not_take_the_study_along(self, study):
        from django.db.models import ProtectedError

        with pytest.raises(ProtectedError), transaction.atomic():
            study.appointment.delete()
        assert Study.objects.filter(pk=study.pk).exists()

    def test_the_admin_offers_no_delete(self, study):
        request = RequestFactory().get("/")
        request.user = make_staff("root", "administrator")[0]
        request.user.is_superuser = True
        for model in (Study, Instance, InstanceFile):
            if model in site._registry:
                assert not site._registry[model].has_delete_permission(request, None)
        assert not site._registry[DestructionRequest].has_delete_permission(request, None)

    def test_purge_leaves_studies_within_retention(self, study, settings):
        with time_machine.travel(EXAM_DAY + timedelta(days=365 * 20), tick=False):
            call_command("archive", "purge")
        assert Study.objects.count() == 1
        assert len(_files(settings)) == 2


class TestDestructionOnRequest:
    def test_the_requester_cannot_approve_their_own_request(self, study):
        alice = make_staff("alice", "sonographer")[0]
        request = destruction_request(
            study=study, requested_by=alice, reason="patient asked, letter of 1 March"
        )

        with pytest.raises(DestructionRefused):
            destruction_approve(request=request, approved_by=alice)

        request.refresh_from_db()
        assert request.status == DestructionRequest.Status.REQUESTED
        assert destructions_execute() == 0
        assert Study.objects.filter(pk=study.pk).exists()
        denied = AuditRecord.objects.get(event=events.ARCHIVE_DESTRUCTION_APPROVED)
        assert denied.outcome == "denied"

    def test_a_request_without_a_reason_is_refused(self, study):
        alice = make_staff("alice", "sonographer")[0]
        with pytest.raises(DestructionRefused):
            destruction_request(study=study, requested_by=alice, reason="  ")

    def test_an_unapproved_request_is_not_executed(self, study):
        alice = make_staff("alice", "sonographer")[0]
        destruction_request(study=study, requested_by=alice, reason="patient asked")

        assert execute_destructions.call() == 0
        assert Study.objects.count() == 1

    def test_approved_by_another_it_is_destroyed_by_the_scheduler_and_audited(
        self, study, settings, django_capture_on_commit_callbacks
    ):
        alice = make_staff("alice", "sonographer")[0]
        bob = make_staff("bob", "administrator")[0]
        request = destruction_request(study=study, requested_by=alice, reason="patient asked")
        destruction_approve(request=request, approved_by=bob)
        assert len(_files(settings)) == 2  # approval alone deletes nothing

        with django_capture_on_commit_callbacks(execute=True):
            assert execute_destructions.call() == 1

        assert (Study.objects.count(), Instance.objects.count(), InstanceFile.objects.count()) == (
            0,
            0,
            0,
        )
        assert _files(settings) == []
        request.refresh_from_db()
        assert request.status == DestructionRequest.Status.EXECUTED
        assert request.study_instance_uid == "1.2.826.0.1.3680043.8.498.42"
        records = {
            r.event: r for r in AuditRecord.objects.filter(event__startswith="archive.destruction")
        }
        assert set(records) == {
            events.ARCHIVE_DESTRUCTION_REQUESTED,
            events.ARCHIVE_DESTRUCTION_APPROVED,
            events.ARCHIVE_DESTRUCTION_EXECUTED,
        }
        assert all(r.patient_ref == "P42" for r in records.values())
        assert records[events.ARCHIVE_DESTRUCTION_EXECUTED].responsible_username == "alice"
        assert execute_destructions.call() == 0  # idempotent


class TestPurge:
    def test_dry_run_lists_studies_past_retain_until_and_removes_nothing(
        self, study, settings, capsys
    ):
        with time_machine.travel(datetime(2046, 3, 3, 12, 0, tzinfo=UTC), tick=False):
            call_command("archive", "purge", "--dry-run")
        out = capsys.readouterr().out
        assert study.key in out
        assert "would remove 1 study(ies), 2 file(s)" in out
        assert Study.objects.count() == 1
        assert len(_files(settings)) == 2

    def test_purge_removes_expired_studies_and_audits_each(
        self, study, settings, django_capture_on_commit_callbacks
    ):
        assert study.retain_until == date(2046, 3, 2)
        with (
            time_machine.travel(datetime(2046, 3, 3, 12, 0, tzinfo=UTC), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            call_command("archive", "purge")
        assert Study.objects.count() == 0
        assert _files(settings) == []
        record = AuditRecord.objects.get(event=events.ARCHIVE_PURGED)
        assert record.patient_ref == "P42"
        assert "2 file(s)" in record.detail

    def test_purge_on_the_last_day_keeps_the_study(self, study):
        with time_machine.travel(datetime(2046, 3, 2, 12, 0, tzinfo=UTC), tick=False):
            call_command("archive", "purge")
        assert Study.objects.count() == 1


def test_the_scheduler_carries_out_approved_destructions_hourly():
    from echoshare.jobs.periodic import discover

    job = discover()["archive.destruction"]
    assert job.every == timedelta(hours=1)
    assert job.task.module_path == "echoshare.archive.tasks.execute_destructions"
