"""Fixtures of the publishing tests: booked appointments, archived ultrasound images, the
portal's API served over HTTP by pytest-django's live server (role `all`), outbox readers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pydicom import dcmread

from echoshare.archive.models import Instance
from echoshare.archive.services import IngestOrigin, instance_store
from echoshare.clinic.booking_input import PatientData
from echoshare.clinic.models import Appointment
from echoshare.clinic.services import appointment_create, patient_upsert
from echoshare.lib.dicom_uid import new_uid
from echoshare.portal.models import Clinic
from echoshare.portal.services import apikey_create, clinic_create
from tests.imaging.conftest import REGIONS, make_ultrasound
from tests.notify.conftest import smtp_server  # noqa: F401 - a fixture for these tests

CLINIC_NAME = "Echopraktijk De Linde"
PATIENT = {
    "patient_id": "PUBPID0042",
    "family_name": "Vandermeulen",
    "given_name": "Annelies",
    "birth_date": date(1991, 4, 17),
    "sex": "F",
    "phone": "+31612345678",
    "email": "annelies@example.nl",
    "language": "nl",
    "consent_sms": True,
    "consent_email": False,
}


@pytest.fixture(autouse=True)
def _publishing_settings(settings: Any) -> None:
    settings.CLINIC_SECRETS_KEY = "publishing-tests-key"
    settings.CLINIC_NAME = CLINIC_NAME
    settings.CLINIC_PHONE = ""
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_DIR = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = ""
    settings.DEFAULT_FROM_EMAIL = "Echoshare <noreply@clinic.example.nl>"
    settings.AUTO_PUBLISH = False
    settings.BOOKING_REMINDER_HOURS = 24
    settings.EXPIRY_REMINDER_DAYS = 7
    settings.DEFAULT_SHARE_MONTHS = 2
    settings.PORTAL_API_TIMEOUT_SECONDS = 30


def book(*, days_ahead: int = 3, **patient: Any) -> Appointment:
    """A booked appointment (password made, booking e-mails queued) for the test patient."""
    data = PatientData(**(PATIENT | patient))
    stored, _ = patient_upsert(data=data, source="test")
    return appointment_create(
        patient=stored,
        scheduled_at=timezone.now() + timedelta(days=days_ahead),
        exam_type="20-weken echo",
        source="test",
    )


def ingest(
    appointment: Appointment,
    folder: Path,
    *,
    regions: Any = REGIONS,
    frames: int = 1,
    for_patient: bool = True,
    received_at: datetime | None = None,
) -> Instance:
    """Archive one synthetic ultrasound image of the appointment, as if sent by a machine
    to the patient AE title (or the archive AE title)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = make_ultrasound(folder / f"{new_uid()}.dcm", frames=frames, regions=regions)
    ds = dcmread(path)
    ds.StudyInstanceUID = appointment.study_instance_uid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = new_uid()
    ds.SeriesInstanceUID = new_uid()
    ds.AccessionNumber = appointment.accession_number
    ds.save_as(path, enforce_file_format=True)
    called = "ECHOSHARE_PT" if for_patient else "ECHOSHARE"
    origin = IngestOrigin(
        source="dicom",
        calling_ae="US_ROOM_1",
        called_ae=called,
        address="127.0.0.1",
        for_patient=for_patient,
    )
    result = instance_store(path=path, origin=origin)
    if received_at is not None:
        result.instance.files.update(received_at=received_at)
    return result.instance


@pytest.fixture
def portal_clinic(transactional_db: Any, live_server: Any, settings: Any) -> Iterator[Clinic]:
    """A clinic on the portal with an API key; the clinic tier talks to it over HTTP."""
    clinic = clinic_create(name=CLINIC_NAME, language="nl")
    _, key = apikey_create(clinic=clinic, label="publishing tests")
    settings.PORTAL_API_URL = live_server.url
    settings.PORTAL_URL = live_server.url
    settings.PORTAL_API_KEY = key
    yield clinic


def sms_files(settings: Any) -> list[Path]:
    folder = Path(settings.DATA_DIR) / "outbox" / "sms"
    return sorted(folder.glob("*.txt")) if folder.exists() else []


def mail_texts(server: Any) -> list[tuple[str, str, str]]:
    """(recipient, subject, plain text) of every mail the SMTP server received."""
    found = []
    for mail in server.messages():
        body = mail.get_body(preferencelist=("plain",))
        found.append((mail["To"], mail["Subject"], body.get_content() if body else ""))
    return found
