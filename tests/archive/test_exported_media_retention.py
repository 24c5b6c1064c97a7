"""E5 for the exported JPEG/PNG/MP4 staff upload onto exams: the exam's record like its DICOM.

Retention is per exam: its studies and exported media go together, after the latest
retain_until of all of them; destruction on request takes them along, or destroys an exam
that only has exported media. Nothing is deleted early.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.db.models import ProtectedError

from echoshare.archive.models import ArchiveDeletionRefused, DestructionRequest, Study
from echoshare.archive.retention import (
    DestructionRefused,
    archive_purge,
    destruction_approve,
    destruction_request,
)
from echoshare.archive.services import instance_store
from echoshare.archive.tasks import execute_destructions
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, ExportedMedia, Patient, SelectedItem
from tests.archive.conftest import DICOM_ORIGIN
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db

EXAM_DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STUDY_UID = "1.2.826.0.1.3680043.8.498.77"
CHANGELIST = "/staff/admin/archive/destructionrequest/"


def at(year: int, month: int, day: int) -> Any:
    return time_machine.travel(datetime(year, month, day, 12, 0, tzinfo=UTC), tick=False)


@pytest.fixture
def appointment() -> Appointment:
    patient = Patient.objects.create(
        patient_id="P77", family_name="Jansen", birth_date=date(1990, 7, 1)
    )
    return Appointment.objects.create(
        patient=patient,
        scheduled_at=EXAM_DAY,
        exam_type="echo",
        accession_number="A77",
        study_instance_uid=STUDY_UID,
    )


@pytest.fixture
def study(appointment, make_dicom) -> Study:
    """Two instances received on the exam day, linked to the appointment: kept to 2046-03-02."""
    with time_machine.travel(EXAM_DAY, tick=False):
        for _ in range(2):
            instance_store(
                path=make_dicom(
                    StudyInstanceUID=STUDY_UID, AccessionNumber="A77", StudyDate="20260302"
                ),
                origin=DICOM_ORIGIN,
            )
    study = Study.objects.get()
    assert (study.appointment, study.retain_until) == (appointment, date(2046, 3, 2))
    return study


@pytest.fixture
def media(appointment, upload_media) -> list[ExportedMedia]:
    """Two exported PNGs uploaded on the exam day, one of them picked for the patient."""
    with time_machine.travel(EXAM_DAY, tick=False):
        items = [upload_media(appointment, shade=1), upload_media(appointment, shade=2)]
    SelectedItem.objects.create(appointment=appointment, media=items[0])
    return items


def _exported(settings) -> list[Path]:
    root = Path(settings.ARCHIVE_DIR) / "exported"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _dicom(settings) -> list[Path]:
    root = Path(settings.ARCHIVE_DIR) / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class TestRetainUntil:
    def test_it_is_the_exam_date_plus_the_retention_years(self, media):
        assert {m.retain_until for m in media} == {date(2046, 3, 2)}

    def test_a_later_upload_counts_from_the_upload(self, appointment, upload_media):
        with at(2027, 1, 10):
            late = upload_media(appointment)
        assert late.retain_until == date(2047, 1, 10)

    def test_the_exam_day_is_the_clinics_day(self, appointment, upload_media, settings):
        """23:30 UTC on 1 March is already 2 March in Amsterdam."""
        appointment.scheduled_at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        appointment.save()
        with time_machine.travel(datetime(2026, 2, 20, 9, 0, tzinfo=UTC), tick=False):
            early = upload_media(appointment)
        assert settings.TIME_ZONE == "Europe/Amsterdam"
        assert early.retain_until == date(2046, 3, 2)


class TestNothingIsDeletedEarly:
    def test_deleting_exported_media_outside_purge_and_destruction_is_refused(
        self, media, settings
    ):
        with pytest.raises(ArchiveDeletionRefused), transaction.atomic():
            media[0].delete()
        with pytest.raises(ArchiveDeletionRefused), transaction.atomic():
            ExportedMedia.objects.all().delete()
        assert ExportedMedia.objects.count() == 2
        assert len(_exported(settings)) == 2

    def test_the_exam_with_exported_media_cannot_be_deleted(self, appointment, media):
        with pytest.raises(ProtectedError), transaction.atomic():
            appointment.delete()
        assert ExportedMedia.objects.count() == 2

    def test_purge_on_the_last_day_keeps_the_exam(self, study, media, settings):
        with at(2046, 3, 2):
            report = archive_purge(dry_run=False)
        assert (report.studies, report.media) == ([], [])
        assert (Study.objects.count(), ExportedMedia.objects.count()) == (1, 2)
        assert len(_exported(settings)) == 2

    def test_a_later_upload_keeps_the_whole_exam_until_its_own_retain_until(
        self, study, media, appointment, upload_media, settings, django_capture_on_commit_callbacks
    ):
        with at(2027, 1, 10):
            upload_media(appointment, shade=3)  # retained until 2047-01-10

        with at(2046, 6, 1):
            call_command("archive", "purge")  # the study and the first uploads are past theirs
        assert (Study.objects.count(), ExportedMedia.objects.count()) == (1, 3)
        assert (len(_dicom(settings)), len(_exported(settings))) == (2, 3)

        with at(2047, 1, 11), django_capture_on_commit_callbacks(execute=True):
            report = archive_purge(dry_run=False)
        assert (len(report.studies), len(report.media)) == (1, 3)
        assert {row["retain_until"] for row in report.media} == {"2047-01-10"}
        assert (Study.objects.count(), ExportedMedia.objects.count()) == (0, 0)
        assert (_dicom(settings), _exported(settings)) == ([], [])

    def test_a_study_received_later_keeps_the_exported_media(
        self, appointment, media, make_dicom, settings
    ):
        with at(2027, 5, 1):
            instance_store(
                path=make_dicom(StudyInstanceUID=STUDY_UID, AccessionNumber="A77"),
                origin=DICOM_ORIGIN,
            )
        assert Study.objects.get().retain_until == date(2047, 5, 1)

        with at(2046, 3, 3):
            report = archive_purge(dry_run=False)

        assert report.media == []
        assert ExportedMedia.objects.count() == 2
        assert len(_exported(settings)) == 2


class TestPurge:
    def test_dry_run_lists_the_exported_media_and_removes_nothing(
        self, study, media, settings, capsys
    ):
        with at(2046, 3, 3):
            call_command("archive", "purge", "--dry-run")

        out = capsys.readouterr().out
        for item in media:
            assert f"{item.key}  exam A77  retained until 2046-03-02  exported media" in out
        assert "would remove 1 study(ies), 2 file(s), 2 exported media file(s)" in out
        assert (Study.objects.count(), ExportedMedia.objects.count()) == (1, 2)
        assert len(_exported(settings)) == 2
        assert not AuditRecord.objects.filter(event=events.ARCHIVE_PURGED).exists()

    def test_purge_removes_the_exams_exported_media_with_its_study_and_audits_each(
        self, study, media, settings, django_capture_on_commit_callbacks
    ):
        with at(2046, 3, 3), django_capture_on_commit_callbacks(execute=True):
            call_command("archive", "purge")

        assert (Study.objects.count(), ExportedMedia.objects.count()) == (0, 0)
        assert not SelectedItem.objects.exists()  # the pick went with its image
        assert (_dicom(settings), _exported(settings)) == ([], [])
        records = AuditRecord.objects.filter(event=events.ARCHIVE_PURGED)
        assert {r.object_ref for r in records} == {
            f"study:{study.key}",
            *(f"exported media {m.key}" for m in media),
        }
        assert {r.patient_ref for r in records} == {"P77"}

    def test_files_stay_until_the_purge_commits(self, study, media, settings):
        with at(2046, 3, 3), pytest.raises(RuntimeError), transaction.atomic():
            archive_purge(dry_run=False)
            raise RuntimeError("the purge's transaction rolls back")

        assert ExportedMedia.objects.count() == 2
        assert len(_exported(settings)) == 2

    def test_an_exam_with_only_exported_media_is_kept_for_the_retention_then_purged(
        self, media, settings, django_capture_on_commit_callbacks
    ):
        with at(2046, 3, 2):
            assert archive_purge(dry_run=True).media == []
        with at(2046, 3, 3), django_capture_on_commit_callbacks(execute=True):
            report = archive_purge(dry_run=False)

        assert (report.studies, len(report.media)) == ([], 2)
        assert not ExportedMedia.objects.exists()
        assert _exported(settings) == []

    def test_a_study_that_matched_no_exam_is_purged_by_its_own_date(
        self, make_dicom, settings, django_capture_on_commit_callbacks
    ):
        with time_machine.travel(EXAM_DAY, tick=False):
            instance_store(path=make_dicom(StudyDate="20260302"), origin=DICOM_ORIGIN)
        assert Study.objects.unmatched().count() == 1

        with at(2046, 3, 3), django_capture_on_commit_callbacks(execute=True):
            report = archive_purge(dry_run=False)

        assert [row["exam"] for row in report.studies] == [""]
        assert not Study.objects.exists()
        assert _dicom(settings) == []


class TestDestruction:
    def _approved(self, **target: Any) -> DestructionRequest:
        alice = make_staff("alice", "sonographer")[0]
        bob = make_staff("bob", "administrator")[0]
        request = destruction_request(requested_by=alice, reason="patient's letter", **target)
        return destruction_approve(request=request, approved_by=bob)

    def test_destroying_a_study_destroys_the_exported_media_of_its_exam(
        self, study, media, settings, django_capture_on_commit_callbacks
    ):
        request = self._approved(study=study)
        assert len(_exported(settings)) == 2  # approval alone deletes nothing

        with django_capture_on_commit_callbacks(execute=True):
            assert execute_destructions.call() == 1

        assert (Study.objects.count(), ExportedMedia.objects.count()) == (0, 0)
        assert not SelectedItem.objects.exists()
        assert (_dicom(settings), _exported(settings)) == ([], [])
        request.refresh_from_db()
        assert (request.status, request.accession_number) == ("executed", "A77")
        executed = AuditRecord.objects.get(event=events.ARCHIVE_DESTRUCTION_EXECUTED)
        assert executed.patient_ref == "P77"
        assert executed.responsible_username == "alice"
        assert executed.detail == (
            f"study {STUDY_UID}: 2 DICOM file(s) and 2 exported media file(s) destroyed"
        )

    def test_an_exam_with_only_exported_media_is_destroyed_on_request(
        self, appointment, media, settings, django_capture_on_commit_callbacks
    ):
        request = self._approved(appointment=appointment)

        with django_capture_on_commit_callbacks(execute=True):
            assert execute_destructions.call() == 1

        assert not ExportedMedia.objects.exists()
        assert _exported(settings) == []
        assert Appointment.objects.filter(pk=appointment.pk).exists()  # the booking stays
        request.refresh_from_db()
        assert request.status == DestructionRequest.Status.EXECUTED
        assert request.target == "exam A77"
        records = AuditRecord.objects.filter(event__startswith="archive.destruction")
        assert {r.event for r in records} == {
            events.ARCHIVE_DESTRUCTION_REQUESTED,
            events.ARCHIVE_DESTRUCTION_APPROVED,
            events.ARCHIVE_DESTRUCTION_EXECUTED,
        }
        assert {r.patient_ref for r in records} == {"P77"}
        executed = records.get(event=events.ARCHIVE_DESTRUCTION_EXECUTED)
        assert executed.detail == "exam A77: 0 DICOM file(s) and 2 exported media file(s) destroyed"

    def test_an_exam_request_takes_its_studies_too(
        self, study, media, settings, django_capture_on_commit_callbacks
    ):
        self._approved(appointment=study.appointment)
        with django_capture_on_commit_callbacks(execute=True):
            execute_destructions.call()
        assert (Study.objects.count(), ExportedMedia.objects.count()) == (0, 0)
        assert (_dicom(settings), _exported(settings)) == ([], [])

    def test_the_requester_cannot_approve_an_exam_request(self, appointment, media, settings):
        alice = make_staff("alice", "sonographer")[0]
        request = destruction_request(
            appointment=appointment, requested_by=alice, reason="patient's letter"
        )
        with pytest.raises(DestructionRefused):
            destruction_approve(request=request, approved_by=alice)

        assert execute_destructions.call() == 0
        assert ExportedMedia.objects.count() == 2
        assert len(_exported(settings)) == 2

    def test_a_request_names_a_study_or_an_exam_and_the_exam_must_hold_something(
        self, study, appointment
    ):
        alice = make_staff("alice", "sonographer")[0]
        with pytest.raises(DestructionRefused, match="either a study or an exam to destroy"):
            destruction_request(
                study=study, appointment=appointment, requested_by=alice, reason="letter"
            )
        with pytest.raises(DestructionRefused, match="either a study or an exam to destroy"):
            destruction_request(requested_by=alice, reason="letter")
        empty = Appointment.objects.create(
            patient=appointment.patient,
            scheduled_at=EXAM_DAY,
            exam_type="echo",
            accession_number="A78",
        )
        with pytest.raises(DestructionRefused, match="exam A78 has no archived images"):
            destruction_request(appointment=empty, requested_by=alice, reason="letter")
        destruction_request(appointment=appointment, requested_by=alice, reason="letter")
        with pytest.raises(DestructionRefused, match="already has an open"):
            destruction_request(appointment=appointment, requested_by=alice, reason="again")
        assert DestructionRequest.objects.count() == 1


class TestDestructionInTheAdmin:
    def test_one_staff_member_asks_by_accession_number_and_another_approves(
        self, appointment, media
    ):
        sonja = verified_client(*make_staff("sonja", "sonographer"))
        adam = verified_client(*make_staff("adam", "administrator"))

        added = sonja.post(f"{CHANGELIST}add/", {"exam": "A77", "reason": "patient's letter"})

        assert added.status_code == 302, added.content
        request = DestructionRequest.objects.get()
        assert (request.appointment, request.study, request.accession_number) == (
            appointment,
            None,
            "A77",
        )
        shown = sonja.get(f"{CHANGELIST}{request.pk}/change/")
        assert shown.status_code == 200
        assert b"A77" in shown.content
        approved = adam.post(CHANGELIST, {"action": "approve", "_selected_action": [request.pk]})
        assert approved.status_code == 302
        request.refresh_from_db()
        assert request.status == DestructionRequest.Status.APPROVED

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"exam": "NOPE", "reason": "letter"}, b"No exam with accession number NOPE."),
            ({"reason": "letter"}, b"Name either a study or an exam"),
            ({"exam": "A77", "reason": " "}, b"needs the reason"),
        ],
    )
    def test_a_bad_request_is_a_form_error(self, appointment, media, form, message):
        sonja = verified_client(*make_staff("sonja", "sonographer"))

        response = sonja.post(f"{CHANGELIST}add/", form)

        assert response.status_code == 200
        assert message in response.content
        assert not DestructionRequest.objects.exists()
