"""The appointment's status follows the exam: its first image makes it examined (once, audited,
never at the ingest's expense), confirming the contact details at arrival makes it arrived,
and the booking API and the Today page see both."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client
from pydicom import dcmread
from pydicom.uid import UID

from echoshare.archive.models import Instance, Study
from echoshare.archive.services import IngestOrigin, instance_store, study_link
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment
from echoshare.clinic.publishing import contact_confirm
from echoshare.clinic.services import api_token_create, appointment_examined, appointment_status_set
from echoshare.lib.dicom_uid import new_uid
from tests.clinic.staff import make_staff, verified_client
from tests.imaging.conftest import make_ultrasound
from tests.publishing.conftest import (  # noqa: F401 - the autouse settings fixture
    _publishing_settings,
    book,
    ingest,
)

pytestmark = pytest.mark.django_db

Status = Appointment.Status


def _status_records(appointment: Appointment) -> list[str]:
    """The audit details of the appointment's status changes, oldest first."""
    records = AuditRecord.objects.filter(
        event__in=(events.APPOINTMENT_CHANGED, events.APPOINTMENT_CANCELLED),
        object_ref=f"appointment {appointment.accession_number}",
        detail__startswith="status:",
    ).order_by("id")
    return list(records.values_list("detail", flat=True))


def _stored(appointment: Appointment, folder: Path, capture: Any) -> Instance:
    """One image of the exam, with what runs after its commit (the signal) run too."""
    with capture(execute=True):
        return ingest(appointment, folder)


def _status(appointment: Appointment) -> str:
    appointment.refresh_from_db(fields=["status"])
    return appointment.status


def test_the_first_image_makes_a_booked_exam_examined_with_one_audited_write(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    appointment = book(days_ahead=0)
    for _ in range(3):
        _stored(appointment, tmp_path / "in", django_capture_on_commit_callbacks)
    assert _status(appointment) == Status.EXAMINED
    assert _status_records(appointment) == ["status: booked -> examined (first image stored)"]
    record = AuditRecord.objects.get(detail__endswith="(first image stored)")
    assert (record.patient_ref, record.source) == ("PUBPID0042", "archive")


def test_a_further_image_of_an_examined_exam_costs_no_query_after_its_commit(
    tmp_path: Path, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Any
) -> None:
    appointment = book(days_ahead=0)
    _stored(appointment, tmp_path / "in", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        ingest(appointment, tmp_path / "in")
    assert after_commit  # the instance_stored signal
    with django_assert_num_queries(0):
        for callback in after_commit:
            callback()


def test_two_images_seen_as_booked_at_once_write_the_status_once(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # Two associations of one exam: both ingests loaded the appointment while it was booked;
    # the row lock makes the second find it examined.
    appointment = book(days_ahead=0)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(appointment, tmp_path / "in")
        ingest(appointment, tmp_path / "in")
    assert _status(appointment) == Status.EXAMINED
    assert len(_status_records(appointment)) == 1
    stale = Appointment.objects.get(pk=appointment.pk)
    stale.status = Status.BOOKED
    assert appointment_examined(appointment=stale, reason="test") is False
    assert stale.status == Status.EXAMINED and len(_status_records(appointment)) == 1


def test_an_arrived_exam_becomes_examined_and_a_cancelled_one_stays_cancelled(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    arrived = book(days_ahead=0)
    appointment_status_set(appointment=arrived, status=Status.ARRIVED)
    _stored(arrived, tmp_path / "a", django_capture_on_commit_callbacks)
    assert _status(arrived) == Status.EXAMINED
    assert _status_records(arrived)[-1] == "status: arrived -> examined (first image stored)"

    cancelled = book(days_ahead=1, patient_id="CANCELLED1")
    appointment_status_set(appointment=cancelled, status=Status.CANCELLED)
    _stored(cancelled, tmp_path / "c", django_capture_on_commit_callbacks)
    assert _status(cancelled) == Status.CANCELLED
    assert _status_records(cancelled) == ["status: booked -> cancelled"]


def _unmatched_study(folder: Path) -> Study:
    folder.mkdir(parents=True, exist_ok=True)
    path = make_ultrasound(folder / f"{new_uid()}.dcm")
    ds = dcmread(path)
    ds.StudyInstanceUID = UID(new_uid())
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID(new_uid())
    ds.AccessionNumber, ds.PatientID = "NOSUCH1", "UNKNOWN7"
    ds.save_as(path, enforce_file_format=True)
    origin = IngestOrigin(source="dicom", calling_ae="US_ROOM_1", called_ae="ECHOSHARE")
    return instance_store(path=path, origin=origin).instance.study


def test_an_unmatched_study_changes_nothing_until_staff_link_it(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    appointment = book(days_ahead=0)
    with django_capture_on_commit_callbacks(execute=True):
        study = _unmatched_study(tmp_path / "in")
    assert study.appointment_id is None and _status(appointment) == Status.BOOKED
    staff, _ = make_staff("sonja", "sonographer")
    with django_capture_on_commit_callbacks(execute=True):
        study_link(study=study, appointment=appointment, user=staff)
    assert _status(appointment) == Status.EXAMINED
    record = AuditRecord.objects.get(detail__endswith="(study linked by staff)")
    assert (record.username, record.detail) == (
        "sonja",
        "status: booked -> examined (study linked by staff)",
    )


def test_the_ingest_never_fails_because_the_status_cannot_be_set(
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    appointment = book(days_ahead=0)

    def broken(**kwargs: Any) -> bool:
        raise DatabaseError("database went away")

    monkeypatch.setattr("echoshare.clinic.receivers.appointment_examined", broken)
    with caplog.at_level(logging.ERROR, logger="echoshare.clinic.receivers"):
        instance = _stored(appointment, tmp_path / "in", django_capture_on_commit_callbacks)
    assert Instance.objects.filter(pk=instance.pk).exists()
    assert _status(appointment) == Status.BOOKED
    assert "appointment status after storing instance" in caplog.text
    monkeypatch.undo()  # the next image of the exam tries again
    _stored(appointment, tmp_path / "in", django_capture_on_commit_callbacks)
    assert _status(appointment) == Status.EXAMINED


def test_confirming_contact_details_at_arrival_makes_a_booked_exam_arrived() -> None:
    appointment = book(days_ahead=0)
    contact_confirm(appointment=appointment, phone="0612345678", email="", user=None)
    assert _status(appointment) == Status.ARRIVED
    assert _status_records(appointment) == ["status: booked -> arrived (contact details confirmed)"]
    contact_confirm(appointment=appointment, phone="0612345678", email="", user=None)
    assert len(_status_records(appointment)) == 1  # arrived already: no second record

    for status in (Status.EXAMINED, Status.CANCELLED):
        other = book(days_ahead=1, patient_id=f"OTHER{status}")
        Appointment.objects.filter(pk=other.pk).update(status=status)
        other.refresh_from_db()
        contact_confirm(appointment=other, phone="0612345678", email="", user=None)
        assert _status(other) == status


def test_the_booking_api_shows_an_examined_exam_and_refuses_to_cancel_it(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    token = api_token_create(name="HiX")[1]
    headers = {"authorization": f"Bearer {token}"}
    appointment = book(days_ahead=0)
    url = f"/staff/api/v1/appointments/{appointment.accession_number}"
    assert Client().get(url, headers=headers).json()["appointment"]["status"] == "booked"
    _stored(appointment, tmp_path / "in", django_capture_on_commit_callbacks)
    assert Client().get(url, headers=headers).json()["appointment"]["status"] == "examined"
    refused = Client().post(
        f"{url}/cancel", json.dumps({}), content_type="application/json", headers=headers
    )
    assert refused.status_code == 409
    assert "cannot be cancelled" in refused.json()["error"]
    assert _status(appointment) == Status.EXAMINED


def test_the_today_page_shows_arrived_after_the_front_desk_confirms_the_contact_details() -> None:
    appointment = book(days_ahead=0)
    client = verified_client(*make_staff("frontdesk-1", "frontdesk"))
    assert 'data-state="booked"' in client.get("/staff/today/rows/").content.decode()
    confirmed = client.post(
        f"/staff/exams/{appointment.accession_number}/contact",
        {"phone": "06 1234 5678", "email": "a@b.nl"},
    )
    assert confirmed.status_code in (200, 303)
    rows = client.get("/staff/today/rows/").content.decode()
    assert appointment.accession_number in rows and 'data-state="arrived"' in rows
