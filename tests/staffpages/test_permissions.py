"""Every staff page and action, for every role: allowed roles get past the gate (never a
403 or a 500), the others get 403; nobody logged out gets in; POSTs need the CSRF token."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from echoshare.clinic.models import Appointment, ExportedMedia, Publication
from echoshare.notify.models import Message
from tests.staffpages.conftest import exam_instances

ALL = {"sonographer", "frontdesk", "administrator"}
IMAGING = {"sonographer", "administrator"}
ADMIN = {"administrator"}

# (name, method, path template, roles allowed). {a}: accession number, {i}: an image key,
# {p}: a share key, {m}: a message reference, {s}: an unmatched study key.
ACTIONS = [
    ("today", "get", "/staff/today/", ALL),
    ("today rows", "get", "/staff/today/rows/", ALL),
    ("exam page", "get", "/staff/exams/{a}/", ALL),
    ("exam state", "get", "/staff/exams/{a}/state.json", ALL),
    ("thumbnails state", "get", "/staff/exams/{a}/thumbnails.json", IMAGING),
    ("thumbnail", "get", "/staff/exams/{a}/images/{i}/thumbnail.jpg", IMAGING),
    ("preview", "get", "/staff/exams/{a}/images/{i}/preview.jpg", IMAGING),
    ("patient view", "get", "/staff/exams/{a}/images/{i}/patient.jpg", IMAGING),
    ("change selection", "post", "/staff/exams/{a}/selection", IMAGING),
    ("poster frame", "post", "/staff/exams/{a}/images/{i}/frame", IMAGING),
    ("crop box", "post", "/staff/exams/{a}/images/{i}/crop", IMAGING),
    ("hold", "post", "/staff/exams/{a}/hold", IMAGING),
    ("send", "post", "/staff/exams/{a}/send", IMAGING),
    ("republish", "post", "/staff/exams/{a}/republish", IMAGING),
    ("password resend", "post", "/staff/exams/{a}/password-resend", ALL),
    ("password slip", "post", "/staff/exams/{a}/password-slip", ALL),
    ("confirm contact", "post", "/staff/exams/{a}/contact", ALL),
    ("upload page", "get", "/staff/exams/{a}/upload/", IMAGING),
    ("upload", "post", "/staff/exams/{a}/upload/", IMAGING),
    ("resend link", "post", "/staff/exams/{a}/shares/{p}/resend", ALL),
    ("reset lock", "post", "/staff/exams/{a}/shares/{p}/reset-lock", ALL),
    ("extend", "post", "/staff/exams/{a}/shares/{p}/extend", IMAGING),
    ("revoke", "post", "/staff/exams/{a}/shares/{p}/revoke", IMAGING),
    ("unmatched", "get", "/staff/unmatched/", IMAGING),
    ("assign unmatched", "post", "/staff/unmatched/{s}/assign", IMAGING),
    ("outbox", "get", "/staff/outbox/", ALL),
    ("retry message", "post", "/staff/outbox/{m}/retry", ALL),
    ("mark message sent", "post", "/staff/outbox/{m}/mark-sent", ALL),
    ("audit log", "get", "/staff/audit/", ADMIN),
    ("system status", "get", "/staff/status/", ADMIN),
]

POST_DATA = {
    "change selection": lambda ids: {"keys": [ids["i"]]},
    "poster frame": lambda ids: {"frame": "0"},
    "crop box": lambda ids: {"x0": "0", "y0": "0", "x1": "9", "y1": "9"},
    "hold": lambda ids: {"on_hold": "on"},
    "extend": lambda ids: {"until": (timezone.localdate() + timedelta(days=90)).isoformat()},
    "assign unmatched": lambda ids: {"accession_number": ids["a"]},
    "confirm contact": lambda ids: {"phone": "0612345678", "email": "p@example.org"},
    # An exported PNG: kept with the exam whenever the request gets through.
    "upload": lambda ids: {"files": SimpleUploadedFile("still.png", _png(), "image/png")},
}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 80, 120)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def ids(exam: Appointment, make_unmatched: Any) -> dict[str, str]:
    publication = Publication.objects.create(
        appointment=exam,
        state=Publication.State.SENT,
        idempotency_key="perm-test",
        expires_at=timezone.now() + timedelta(days=30),
    )
    message = Message.objects.filter(patient_ref=exam.patient.patient_id).first()
    assert message is not None  # the booking confirmation
    Message.objects.filter(pk=message.pk).update(state=Message.State.GAVE_UP, last_error="x")
    return {
        "a": exam.accession_number,
        "i": exam_instances(exam)[0].key,
        "p": publication.key,
        "m": str(message.reference),
        "s": make_unmatched().key,
    }


def _call(client: Client, name: str, method: str, path: str, ids: dict[str, str]) -> int:
    url = path.format(**ids)
    if method == "get":
        return client.get(url).status_code
    data = POST_DATA.get(name, lambda ids: {})(ids)
    return client.post(url, data).status_code


@pytest.mark.parametrize("role", sorted(ALL))
def test_each_role_reaches_exactly_the_pages_and_actions_of_its_permissions(
    role: str, client_for: Any, ids: dict[str, str], settings: Any, healthy: None
) -> None:
    client = client_for(role)
    outcome = {name: _call(client, name, method, path, ids) for name, method, path, _ in ACTIONS}
    for name, _, _, allowed in ACTIONS:
        if role in allowed:
            assert outcome[name] not in (401, 403, 500), (name, outcome[name])
        else:
            assert outcome[name] == 403, (name, outcome[name])


def test_nobody_logged_out_reaches_a_staff_page_or_action(db: Any, ids: dict[str, str]) -> None:
    client = Client()
    for name, method, path, _ in ACTIONS:
        status = _call(client, name, method, path, ids)
        assert status == 302, (name, status)


def test_a_password_without_second_factor_is_not_enough(personas: Any, ids: dict[str, str]) -> None:
    client = Client()
    client.force_login(personas["administrator"][0])  # no OTP device verified
    assert client.get("/staff/today/").status_code == 302
    assert client.post(f"/staff/exams/{ids['a']}/send").status_code == 302


def test_actions_refuse_a_post_without_csrf_token(personas: Any, ids: dict[str, str]) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY

    user, device = personas["sonographer"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    posts = [action for action in ACTIONS if action[1] == "post"]
    # The upload view is csrf_exempt with its own inner check (after the size check): it is
    # on the list, so that check is tested too.
    assert "upload" in {name for name, *_ in posts}
    for name, method, path, _ in posts:
        assert _call(client, name, method, path, ids) == 403, name
    assert Appointment.objects.get(pk=Appointment.objects.first().pk).on_hold is False  # type: ignore[union-attr]
    assert not ExportedMedia.objects.exists()


def test_an_image_of_another_exam_is_not_reachable_through_this_exam(
    client_for: Any, exam: Appointment, tmp_path: Any
) -> None:
    from tests.staffpages.conftest import book, ingest

    other = book(days_ahead=1, patient_id="OTHER0001", family_name="Anders")
    foreign = ingest(other, tmp_path / "other")
    client = client_for("sonographer")
    base = f"/staff/exams/{exam.accession_number}"
    assert client.get(f"{base}/images/{foreign.key}/thumbnail.jpg").status_code == 404
    assert client.get(f"{base}/images/{foreign.key}/preview.jpg").status_code == 404
    response = client.post(f"{base}/selection", {"keys": [foreign.key]})
    assert response.status_code == 409
    foreign.refresh_from_db()
    assert foreign.selections.filter(appointment=exam).count() == 0
