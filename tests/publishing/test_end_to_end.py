"""End to end on one machine, the two tiers in separate processes with separate databases:

booking -> DICOM in (pynetdicom SCU -> `echoshare dicom`, role clinic) -> staff crop ->
publish (the job run here, for the clinic) -> SMS in the file outbox -> chromium opens the
link, enters the password, sees the photos -> deletes with the code from the menu -> the
clinic's status pull shows "deleted by patient" -> the archive still holds every original.

Then the canary search (G2): the portal's database, files and logs hold no patient name, ID,
birth date, phone, e-mail, accession number or DICOM UID.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from playwright.sync_api import expect, sync_playwright
from pydicom import Dataset, examples
from pynetdicom import AE

from echoshare.archive.models import InstanceFile
from echoshare.clinic.models import Appointment, Publication
from echoshare.clinic.passwords import password_reveal
from echoshare.clinic.publishing import publication_run, share_publish
from echoshare.clinic.selection import selected_item_crop_set, selected_item_preview
from echoshare.clinic.selection import selection_items as items_of
from echoshare.clinic.share_status import share_status_pull
from echoshare.notify.services import messages_send_due
from tests.portal.processes import database_url
from tests.publishing.conftest import PATIENT, book, sms_files

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.dicom,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PATIENT_AE = "ECHOSHARE_PT"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Processes:
    """Child processes of the test, each with its log file; all stopped at the end."""

    folder: Path
    running: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def run(self, name: str, args: list[str], env: dict[str, str]) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "echoshare.cli", *args],
            cwd=ROOT,
            env=os.environ | env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        (self.folder / f"{name}.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "echoshare.cli", *args],
                cwd=ROOT,
                env=os.environ | env | {"PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append((process, log))
        return process

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for process, log in self.running:
                if process.poll() is not None:
                    raise AssertionError(f"{what}: {log.name} stopped:\n{log.read_text()[-3000:]}")
            if ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def stop_all(self) -> None:
        for process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    folder = tmp_path / "logs"
    folder.mkdir()
    children = Processes(folder)
    try:
        yield children
    finally:
        children.stop_all()


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Portal:
    url: str
    api_key: str
    database: Path
    folders: tuple[Path, ...]


def start_portal(processes: Processes, tmp_path: Path) -> Portal:
    port = free_port()
    base = tmp_path / "portal"
    env = {
        "ECHOSHARE_ROLE": "portal",
        "DATABASE_URL": f"sqlite:///{base / 'portal.sqlite3'}",
        "ECHOSHARE_DATA_DIR": str(base / "data"),
        "ECHOSHARE_PORTAL_MEDIA_DIR": str(base / "media"),
        "ECHOSHARE_PORTAL_URL": f"http://127.0.0.1:{port}",
        "ECHOSHARE_SECURE_COOKIES": "false",  # plain HTTP on loopback
        "ECHOSHARE_WEB_WORKERS": "1",
    }
    base.mkdir()
    processes.run("portal-migrate", ["migrate", "--noinput"], env)
    created = processes.run("portal-clinic", ["portal_clinic_create", "--name", "De Linde"], env)
    key = re.search(r"(esk_\S+)", created)
    assert key is not None, created
    processes.start("portal-web", ["web", "--bind", f"127.0.0.1:{port}"], env)
    processes.wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), "the portal")
    return Portal(
        url=f"http://127.0.0.1:{port}",
        api_key=key.group(1),
        database=base / "portal.sqlite3",
        folders=(base / "data", base / "media", processes.folder),
    )


def start_clinic(processes: Processes, settings: Any, portal: Portal) -> int:
    """The clinic's web server and DICOM listener (role clinic) on this test's database."""
    dicom_port, web_port = free_port(), free_port()
    env = {
        "ECHOSHARE_ROLE": "clinic",
        "DATABASE_URL": database_url(),
        "ECHOSHARE_DATA_DIR": str(settings.DATA_DIR),
        "ECHOSHARE_ARCHIVE_DIR": str(settings.ARCHIVE_DIR),
        "ECHOSHARE_CLINIC_SECRETS_KEY": settings.CLINIC_SECRETS_KEY,
        "ECHOSHARE_PORTAL_API_URL": portal.url,
        "ECHOSHARE_PORTAL_API_KEY": portal.api_key,
        "ECHOSHARE_DICOM_BIND_ADDRESS": "127.0.0.1",
        "ECHOSHARE_DICOM_PORT": str(dicom_port),
        "ECHOSHARE_WEB_WORKERS": "1",
    }
    processes.start("clinic-web", ["web", "--bind", f"127.0.0.1:{web_port}"], env)
    processes.start("clinic-dicom", ["dicom"], env)
    processes.wait_for(lambda: listening(dicom_port), "the DICOM listener")
    processes.wait_for(lambda: answers(f"http://127.0.0.1:{web_port}/healthz"), "the clinic web")
    # The clinic tier serves no patient pages: a split deployment keeps them on the portal.
    assert requests.get(f"http://127.0.0.1:{web_port}/api/v1/events", timeout=5).status_code == 404
    return dicom_port


def exam_datasets(appointment: Appointment) -> list[Dataset]:
    """pydicom's bundled ultrasound files, made into this appointment's images."""
    datasets = []
    for example in (examples.rgb_color, examples.palette_color, examples.ybr_color):
        ds = example.copy()
        ds.PatientName = f"{PATIENT['family_name']}^{PATIENT['given_name']}"
        ds.PatientID = PATIENT["patient_id"]
        ds.PatientBirthDate = PATIENT["birth_date"].strftime("%Y%m%d")
        ds.AccessionNumber = appointment.accession_number
        ds.StudyInstanceUID = appointment.study_instance_uid
        datasets.append(ds)
    return datasets


def send(datasets: list[Dataset], port: int) -> None:
    ae = AE(ae_title="US_ROOM_1")
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=PATIENT_AE)
    assert assoc.is_established
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            assert status.Status == 0x0000, status
    finally:
        assoc.release()


def crop_where_needed(appointment: Appointment) -> None:
    """Staff look at each preview and set a crop box where the mask is not decided."""
    for item in items_of(appointment=appointment):
        preview = selected_item_preview(item=item)
        if preview.branch == "needs_review":
            columns, rows = preview.columns, preview.rows
            box = (columns // 8, rows // 8, columns * 7 // 8, rows * 7 // 8)
            selected_item_crop_set(item=item, crop=box, user=None)


def patient_opens_and_deletes(
    link: str, password: str, code: str, *, photos: int, clips: int
) -> None:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop in this thread
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page()
            page.goto(link)
            page.get_by_label("Wachtwoord").fill(password)
            page.get_by_role("button", name="Wachtwoord controleren").click()
            expect(page).to_have_url(re.compile(r"/gallery$"))
            thumbs = page.locator(".thumbs img")
            expect(thumbs).to_have_count(photos)
            expect(page.locator("figure.clip video")).to_have_count(clips)
            for index in range(photos):
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0",
                    arg=thumbs.nth(index).element_handle(),
                )
            page.get_by_text("Menu", exact=True).click()
            page.get_by_role("link", name="Verwijderen").click()
            page.get_by_label("Verwijdercode").fill(code.lower())
            page.get_by_label("Ja, verwijder nu alle foto's en filmpjes").check()
            page.get_by_role("button", name="Verwijderen").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(
                "Uw foto's en filmpjes zijn verwijderd"
            )
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def canaries(appointment: Appointment) -> list[str]:
    birth = PATIENT["birth_date"]
    values = [
        PATIENT["family_name"],
        PATIENT["given_name"],
        PATIENT["patient_id"],
        birth.strftime("%Y%m%d"),
        birth.isoformat(),
        birth.strftime("%d-%m-%Y"),
        PATIENT["phone"],
        PATIENT["phone"].replace("+31", "0"),
        PATIENT["email"],
        appointment.accession_number,
        appointment.study_instance_uid,
    ]
    for instance in appointment.studies.get().instances.all():
        values += [instance.sop_instance_uid, instance.series_instance_uid]
    return values


def assert_no_canary(blobs: dict[str, bytes], values: list[str]) -> None:
    for name, data in blobs.items():
        lowered = data.lower()
        for value in values:
            for encoding in ("ascii", "utf-16-le"):
                assert value.lower().encode(encoding) not in lowered, (value, name)


def portal_blobs(portal: Portal) -> dict[str, bytes]:
    blobs = {}
    for path in portal.database.parent.glob("portal.sqlite3*"):  # with -wal / -shm
        blobs[path.name] = path.read_bytes()
    for folder in portal.folders:
        for path in folder.rglob("*"):
            if path.is_file() and (folder != portal.folders[2] or path.name.startswith("portal")):
                blobs[str(path)] = path.read_bytes()
    return blobs


def test_booking_to_deleted_by_patient_across_two_processes(
    processes: Processes, tmp_path: Path, settings: Any
) -> None:
    portal = start_portal(processes, tmp_path)
    settings.PORTAL_API_URL, settings.PORTAL_API_KEY = portal.url, portal.api_key
    dicom_port = start_clinic(processes, settings, portal)

    appointment = book()
    send(exam_datasets(appointment), dicom_port)
    assert len(items_of(appointment=appointment)) == 3
    crop_where_needed(appointment)

    publication = share_publish(appointment=appointment, user=None)
    publication = publication_run(publication_id=publication.pk)  # the clinic's job
    assert publication.state == Publication.State.SENT, publication.error
    messages_send_due()
    [sms] = sms_files(settings)
    text = sms.read_text()
    link = re.search(rf"{re.escape(portal.url)}/s/\S+", text)
    code = re.search(r"Verwijdercode: ([2-9A-Z]{4})\b", text)
    assert link and code, text

    patient_opens_and_deletes(
        link.group(0), password_reveal(appointment=appointment), code.group(1), photos=2, clips=1
    )

    deadline = time.monotonic() + 30  # the portal holds events back for two seconds
    while publication.state != Publication.State.DELETED and time.monotonic() < deadline:
        time.sleep(0.5)
        share_status_pull()
        publication.refresh_from_db()
    assert publication.state == Publication.State.DELETED
    assert publication.secrets_sealed == ""

    files = InstanceFile.objects.filter(instance__study__appointment=appointment)
    assert files.count() == 3
    for stored in files:
        data = (Path(django_settings.ARCHIVE_DIR) / stored.relative_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == stored.sha256

    processes.stop_all()  # logs complete before the canary search
    blobs = portal_blobs(portal)
    # The search reads the real things: the database knows the clinic, the log the requests.
    assert any(b"De Linde" in blob for name, blob in blobs.items() if "sqlite3" in name)
    assert b"/api/v1/shares" in blobs[str(processes.folder / "portal-web.log")]
    assert_no_canary(blobs, canaries(appointment))
