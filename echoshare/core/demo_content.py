"""The demo's sample content (`echoshare demo`).

Before the processes start: a portal clinic with a fresh API key and a staff login. Once the
web server answers: pydicom's bundled ultrasound files go through the DICOM listener as a
sample exam (archive AE, and the patient AE for the picks), and a share of them is published
through the portal's HTTP API, exactly as the clinic tier would.

pydicom's files carry burned-in text ("BAPTIST MED CTR", dates, machine settings) and none has
valid ultrasound regions, so each gets a fixed crop that leaves the text out (DEMO_CROPS,
checked by eye and by tests/test_demo.py). Their uncropped pixels are never published.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings
from django.db import transaction
from pydicom import Dataset, examples

from echoshare.imaging.config import render_settings
from echoshare.imaging.decode import read_header
from echoshare.imaging.masking import Mask, Rect
from echoshare.imaging.render import RenderResult, render_with_mask
from echoshare.lib.secrets import argon2_hash, new_delete_code, new_password

DEMO_CLINIC_NAME = "Echopraktijk Demo"
DEMO_STAFF_USER = "demo-echoscopist"

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


def demo_datasets() -> dict[str, Dataset]:
    return {name: getattr(examples, name) for name in DEMO_CROPS}


def prepare(say: Say) -> DemoAccess:
    """Clinic, API key and staff login; runs before the processes start."""
    access = DemoAccess()
    if settings.SERVES_PORTAL:
        access.api_key = _portal_clinic_key()
    if settings.SERVES_CLINIC:
        access.staff_password, access.totp_uri = _staff_login()
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


def send_sample_exam(say: Say) -> int:
    """C-STORE the bundled files to the archive AE, and the picks to the patient AE."""
    from pynetdicom import AE

    if not dicom_listener_answers(timeout=180):
        say(f"  DICOM: the listener on port {settings.DICOM_PORT} did not answer")
        return 0
    datasets = demo_datasets()
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
                if status and status.Status == 0x0000:
                    sent += 1
        finally:
            assoc.release()
    return sent


def _contexts(datasets: dict[str, Dataset]) -> set[tuple[str, str]]:
    return {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets.values()}


def render_demo_items(out_root: Path) -> list[tuple[str, RenderResult]]:
    """Render each bundled file with its fixed demo crop, as publishing would."""
    results = []
    for name, crop in DEMO_CROPS.items():
        path = Path(examples.get_path(name))
        header = read_header(path, pixel_budget=settings.IMAGING_PIXEL_BUDGET)
        mask = Mask(branch="staff_crop", keep=(), crop=crop, note="fixed demo crop")
        result = render_with_mask(header, mask, out_dir=out_root / name, settings=render_settings())
        results.append((name, result))
    return results


@dataclass
class DemoShare:
    url: str
    password: str
    delete_code: str


def publish_demo_share(api_key: str) -> DemoShare:
    """POST the rendered items to the portal API, as the clinic's publish job does."""
    password, code = new_password(), new_delete_code()
    with tempfile.TemporaryDirectory(prefix="echoshare-demo-") as tmp:
        rendered = render_demo_items(Path(tmp))
        manifest_items, files = _manifest_parts(rendered)
        manifest = {
            "password_hash": argon2_hash(password),
            "delete_code_hash": argon2_hash(code),
            "language": "nl",
            "items": manifest_items,
        }
        handles = {part: path.open("rb") for part, path in files.items()}
        try:
            response = requests.post(
                f"{settings.PORTAL_API_URL}/api/v1/shares",
                headers={
                    "Authorization": f"Bearer {api_key}",
                    "Idempotency-Key": f"demo-{uuid.uuid4()}",
                },
                data={"manifest": json.dumps(manifest)},
                files={part: (part, handle) for part, handle in handles.items()},
                timeout=120,
            )
        finally:
            for handle in handles.values():
                handle.close()
    if response.status_code != 201:
        raise RuntimeError(
            f"the portal refused the demo share: {response.status_code} {response.text[:300]}"
        )
    return DemoShare(url=response.json()["url"], password=password, delete_code=code)


def _manifest_parts(
    rendered: list[tuple[str, RenderResult]],
) -> tuple[list[dict[str, str]], dict[str, Path]]:
    """Stills first, then clips: a manifest entry and its file parts per rendered item."""
    items: list[dict[str, str]] = []
    files: dict[str, Path] = {}
    ordered = sorted(rendered, key=lambda pair: "clip" in pair[1].outputs)
    for number, (_name, result) in enumerate(ordered, start=1):
        out = result.outputs
        if "clip" in out:
            entry = {
                "kind": "clip",
                "file": f"c{number}",
                "thumbnail": f"c{number}t",
                "poster": f"c{number}p",
            }
            files.update(
                {
                    entry["file"]: out["clip"],
                    entry["thumbnail"]: out["thumbnail"],
                    entry["poster"]: out["still"],
                }
            )
        else:
            entry = {"kind": "still", "file": f"p{number}", "thumbnail": f"p{number}t"}
            files.update({entry["file"]: out["still"], entry["thumbnail"]: out["thumbnail"]})
        items.append(entry)
    return items, files
