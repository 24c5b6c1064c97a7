"""The demo's sample content (`echoshare demo`): the real path, end to end.

Before the processes start: a portal clinic with a fresh API key (the clinic tier's
processes inherit it), a staff login, and a booked demo appointment (its confirmation
e-mail, with the password, goes to the file outbox). Once web and DICOM answer: pydicom's
bundled ultrasound files go through the DICOM listener as that appointment's exam (archive AE,
and the patient AE for the picks); each pick gets the fixed demo crop through the same
function a staff member's crop uses; the exam is published through the job queue and the
portal's HTTP API; and the SMS and e-mail are printed as the patient receives them.

pydicom's files carry burned-in text ("BAPTIST MED CTR", dates, machine settings) and none has
valid ultrasound regions, so each gets a fixed crop that leaves the text out (DEMO_CROPS,
checked by eye and by tests/test_demo.py). Their uncropped pixels are never published.
"""

from __future__ import annotations

import email
import email.policy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydicom import Dataset, examples

from echoshare.imaging.masking import Rect
from echoshare.lib.secrets import new_password

DEMO_CLINIC_NAME = "Echopraktijk Demo"
DEMO_STAFF_USER = "demo-echoscopist"
DEMO_PATIENT_ID = "DEMO-0001"
PUBLISH_WAIT_SECONDS = 300

# Inclusive pixel boxes (x0, y0, x1, y1) that keep the image and leave out every burned-in
# text of pydicom's bundled examples (their sizes: rgb/ybr 320x240, palette 800x350).
DEMO_CROPS: dict[str, Rect] = {
    "palette_color": Rect(335, 62, 769, 279),
    "rgb_color": Rect(40, 60, 279, 170),
    "ybr_color": Rect(60, 30, 279, 215),
}

Say = Callable[[str], None]


@dataclass
class DemoAccess:
    api_key: str = ""
    staff_password: str = ""
    totp_uri: str = ""
    appointment_id: int = 0


def demo_environment() -> None:
    """Settings the demo's child processes inherit, unless the environment sets them.

    The demo serves plain HTTP on loopback, where Secure cookies would never come back.
    """
    os.environ.setdefault("ECHOSHARE_SECURE_COOKIES", "no")
    os.environ.setdefault("ECHOSHARE_CLINIC_NAME", DEMO_CLINIC_NAME)
    settings.CLINIC_NAME = os.environ["ECHOSHARE_CLINIC_NAME"]  # mails queued in this process


def prepare(say: Say) -> DemoAccess:
    """Portal clinic and key, staff login, a booked appointment; before the processes start."""
    demo_environment()
    access = DemoAccess(api_key=_portal_clinic_key())
    access.staff_password, access.totp_uri = _staff_login()
    access.appointment_id = _book_appointment()
    return access


def _portal_clinic_key() -> str:
    from echoshare.portal.models import Clinic
    from echoshare.portal.services import apikey_create, apikey_revoke, clinic_create

    with transaction.atomic():
        clinic = Clinic.objects.filter(name=DEMO_CLINIC_NAME).first()
        if clinic is None:
            clinic = clinic_create(name=DEMO_CLINIC_NAME, language="nl")
        for old in clinic.api_keys.filter(label="demo", revoked_at__isnull=True):
            apikey_revoke(prefix=old.prefix)
        _key, plaintext = apikey_create(clinic=clinic, label="demo")
    # The clinic tier's processes (worker: publishing, status pulls) inherit the key.
    os.environ["ECHOSHARE_PORTAL_API_KEY"] = plaintext
    return plaintext


def _staff_login() -> tuple[str, str]:
    """A sonographer account with a new password and authenticator on every demo start."""
    from django.contrib.auth import get_user_model

    from echoshare.clinic.accounts import staff_create

    password = f"demo-{new_password()}-{new_password()}"
    with transaction.atomic():
        get_user_model().objects.filter(username=DEMO_STAFF_USER).delete()
        _user, device = staff_create(
            username=DEMO_STAFF_USER, role="sonographer", password=password, source="demo"
        )
    return password, device.config_url


def _book_appointment() -> int:
    """A fresh appointment for the demo patient, now; booking queues the confirmation mail."""
    from echoshare.clinic.booking_input import PatientData
    from echoshare.clinic.services import appointment_create, patient_upsert

    patient, _created = patient_upsert(
        data=PatientData(
            patient_id=DEMO_PATIENT_ID,
            family_name="Demo",
            given_name="Anna",
            birth_date=date(1994, 5, 17),
            sex="F",
            phone="+31612345678",
            email="anna.demo@example.invalid",
            language="nl",
            consent_sms=True,
            consent_email=True,
        ),
        source="demo",
    )
    appointment = appointment_create(
        patient=patient,
        scheduled_at=timezone.now() + timedelta(minutes=5),
        exam_type="20-wekenecho (demo)",
        source="demo",
    )
    return appointment.pk


def demo_datasets(
    *, accession_number: str = "", study_instance_uid: str = ""
) -> dict[str, Dataset]:
    """pydicom's bundled ultrasound files, made into the demo appointment's images."""
    datasets = {}
    for name in DEMO_CROPS:
        ds = getattr(examples, name).copy()
        if accession_number:
            ds.PatientName, ds.PatientID = "Demo^Anna", DEMO_PATIENT_ID
            ds.AccessionNumber, ds.StudyInstanceUID = accession_number, study_instance_uid
        datasets[name] = ds
    return datasets


def dicom_listener_answers(timeout: float) -> bool:
    """Wait until the DICOM listener answers a C-ECHO (it starts beside the web server)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ae = AE(ae_title="DEMO_US")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", settings.DICOM_PORT, ae_title=settings.DICOM_ARCHIVE_AE)
        if assoc.is_established:
            assoc.release()
            return True
        time.sleep(1)
    return False


def send_exam(datasets: dict[str, Dataset], say: Say) -> int:
    """C-STORE every image to the archive AE and the sonographer's picks to the patient AE."""
    from pynetdicom import AE

    sent = 0
    for called in (settings.DICOM_ARCHIVE_AE, settings.DICOM_PATIENT_AE):
        ae = AE(ae_title="DEMO_US")
        # One context per SOP class and transfer syntax: the listener accepts one syntax
        # per proposed context, and these files differ (explicit VR, JPEG baseline).
        for sop_class, syntax in sorted(_contexts(datasets)):
            ae.add_requested_context(sop_class, syntax)
        assoc = ae.associate("127.0.0.1", settings.DICOM_PORT, ae_title=called)
        if not assoc.is_established:
            say(f"  DICOM: no association with {called} on port {settings.DICOM_PORT}")
            continue
        try:
            for dataset in datasets.values():
                status = assoc.send_c_store(dataset)
                sent += bool(status and status.Status == 0x0000)
        finally:
            assoc.release()
    return sent


def _contexts(datasets: dict[str, Dataset]) -> set[tuple[str, str]]:
    return {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets.values()}


def crop_picks(appointment: Any, datasets: dict[str, Dataset]) -> int:
    """Set the fixed demo crop on each pick, through the function staff crops use."""
    from echoshare.clinic.selection import selected_item_crop_set, selection_items

    names = {str(ds.SOPInstanceUID): name for name, ds in datasets.items()}
    items = selection_items(appointment=appointment)
    for item in items:
        if item.instance is None:  # an uploaded JPEG/PNG/MP4: the demo sends none
            continue
        box = DEMO_CROPS[names[item.instance.sop_instance_uid]]
        selected_item_crop_set(item=item, crop=(box.x0, box.y0, box.x1, box.y1), user=None)
    return len(items)


def run_exam_and_publish(access: DemoAccess, say: Say) -> None:
    """DICOM in, crops, publish through the queue; then print what the patient receives."""
    from echoshare.clinic.models import Appointment, Publication
    from echoshare.clinic.passwords import password_reveal
    from echoshare.clinic.publishing import share_publish

    appointment = Appointment.objects.select_related("patient").get(pk=access.appointment_id)
    if not dicom_listener_answers(timeout=180):
        say(f"DICOM: the listener on port {settings.DICOM_PORT} did not answer")
        return
    datasets = demo_datasets(
        accession_number=appointment.accession_number,
        study_instance_uid=appointment.study_instance_uid,
    )
    sent = send_exam(datasets, say)
    say(
        f"DICOM: {sent} C-STOREs acknowledged on port {settings.DICOM_PORT} "
        f"(AE titles {settings.DICOM_ARCHIVE_AE}, {settings.DICOM_PATIENT_AE})"
    )
    say(f"Crops set on {crop_picks(appointment, datasets)} picks; publishing ...")
    publication = share_publish(appointment=appointment, user=None, source="demo")
    publication = _wait_until_sent(publication.pk)
    if publication.state != Publication.State.SENT:
        say(f"Publishing did not finish: {publication.state} {publication.error}")
        return
    _print_messages(appointment, say)
    say(f"  password (from the booking e-mail): {password_reveal(appointment=appointment)}")


def _wait_until_sent(publication_id: int) -> Any:
    from echoshare.clinic.models import Publication
    from echoshare.notify.models import Message

    deadline = time.monotonic() + PUBLISH_WAIT_SECONDS
    while True:
        publication = Publication.objects.get(pk=publication_id)
        links = Message.objects.filter(kind="share_link", patient_ref=DEMO_PATIENT_ID)
        done = (
            publication.state != Publication.State.QUEUED
            and not links.exclude(state="sent").exists()
            and links.exists()
        )
        if done or publication.state == Publication.State.FAILED or time.monotonic() > deadline:
            return publication
        time.sleep(1)


def _print_messages(appointment: Any, say: Say) -> None:
    """The newest SMS and link e-mail in the file outboxes, as the patient gets them."""
    from echoshare.notify.email import email_outbox_dir
    from echoshare.notify.sms.file import sms_outbox_dir

    sms = _newest(sms_outbox_dir())
    if sms is not None:
        say("")
        say("SMS to the patient:")
        for line in sms.read_text(encoding="utf-8").splitlines():
            say(f"  | {line}")
    mail = _newest(email_outbox_dir())
    if mail is not None:
        say("")
        say("E-mail to the patient (text part):")
        for line in _mail_text(mail).splitlines():
            say(f"  | {line}")


def _newest(folder: Path) -> Path | None:
    files = [p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")]
    return max(files, key=lambda p: p.stat().st_mtime) if files else None


def _mail_text(path: Path) -> str:
    """Subject and plain-text part of the last mail in a file of Django's file backend."""
    raw = path.read_text(encoding="utf-8").split("-" * 79)
    message = email.message_from_string(raw[-1].strip() or raw[0], policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return f"Subject: {message['Subject']}\n\n{text}"
