"""Fixtures of the staff page tests: the three personas, a booked exam with archived images,
and healthy surroundings for the monitor (a DICOM listener and a portal /healthz)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.archive.models import Instance
from echoshare.clinic.models import Appointment
from tests.clinic.staff import make_staff, verified_client
from tests.publishing.conftest import (  # noqa: F401 - the autouse settings fixture
    _publishing_settings,
    book,
    ingest,
)

ROLES = ("sonographer", "frontdesk", "administrator")


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Iterator[None]:
    """Assertions read English; test_translations and the Dutch alert test check Dutch."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings: Any) -> None:
    """argon2 is tested elsewhere; a cheap hasher keeps the many logins here fast."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture
def personas(db: Any) -> dict[str, tuple[User, TOTPDevice]]:
    return {role: make_staff(f"{role}-1", role) for role in ROLES}


@pytest.fixture
def client_for(personas: dict[str, tuple[User, TOTPDevice]]) -> Callable[[str], Client]:
    """A logged-in (password + TOTP) client of a role."""
    return lambda role: verified_client(*personas[role])


@pytest.fixture
def exam(db: Any, tmp_path: Path) -> Appointment:
    """A booked exam (SMS consent, password made) with two images the patient picked."""
    appointment = book(days_ahead=0)
    ingest(appointment, tmp_path / "in")
    ingest(appointment, tmp_path / "in", frames=3)
    return appointment


def exam_instances(appointment: Appointment) -> list[Instance]:
    return list(Instance.objects.filter(study__appointment=appointment).order_by("id"))


class _Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.server.status if self.path == "/healthz" else 404)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def portal_healthz(settings: Any) -> Iterator[ThreadingHTTPServer]:
    """A stand-in portal answering /healthz (set `.status` to make it fail)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PORTAL_API_URL = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def dicom_listener(settings: Any) -> Iterator[Any]:
    """A real DICOM listener (pynetdicom, Verification SCP) on a free port."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title=settings.DICOM_ARCHIVE_AE)
    ae.add_supported_context(Verification)
    listener = _Listener(ae.start_server(("127.0.0.1", 0), block=False))
    settings.DICOM_PORT = listener.server.server_address[1]
    settings.MONITOR_DICOM_HOST = "127.0.0.1"
    yield listener
    listener.shutdown()


class _Listener:
    """A DICOM listener a test may stop itself (stopping twice is harmless)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.running = True

    def shutdown(self) -> None:
        if self.running:
            self.running = False
            self.server.shutdown()


@pytest.fixture
def healthy(settings: Any, portal_healthz: Any, dicom_listener: Any) -> None:
    """Every monitored condition good: listener up, portal up, disk threshold tiny."""
    settings.MONITOR_DISK_FREE_MB = 1
    settings.MONITOR_ALERT_EMAILS = []
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def make_unmatched(db: Any, tmp_path: Path) -> Callable[[], Any]:
    """An archived study whose StudyInstanceUID and accession number match no appointment."""
    from pydicom import dcmread

    from echoshare.archive.services import IngestOrigin, instance_store
    from echoshare.lib.dicom_uid import new_uid
    from tests.imaging.conftest import make_ultrasound

    def make() -> Any:
        folder = tmp_path / "unmatched"
        folder.mkdir(exist_ok=True)
        path = make_ultrasound(folder / f"{new_uid()}.dcm")
        ds = dcmread(path)
        ds.StudyInstanceUID = new_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = new_uid()
        ds.AccessionNumber = "NOSUCH1"
        ds.PatientID = "UNKNOWN7"
        ds.PatientName = "Onbekend^Iemand"
        ds.save_as(path, enforce_file_format=True)
        origin = IngestOrigin(source="dicom", calling_ae="US_ROOM_1", called_ae="ECHOSHARE")
        study = instance_store(path=path, origin=origin).instance.study
        assert study.appointment_id is None
        return study

    return make
