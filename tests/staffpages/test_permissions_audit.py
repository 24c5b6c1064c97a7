"""Refused access is audited (NEN 7513): every 403 a logged-in staff member gets under /staff/
(staff pages, their JSON endpoints, the admin, the audit log) writes exactly one
`access.denied` record with outcome "denied"; allowed requests write none; the 403 goes out
even when the record cannot be written. The portal tier does not carry the middleware."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from echoshare.archive.models import Study
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_verify
from echoshare.clinic import middleware
from echoshare.clinic.middleware import AccessDeniedAuditMiddleware
from echoshare.clinic.models import Appointment
from echoshare.notify.models import Message
from tests.staffpages.conftest import ROLES
from tests.staffpages.test_permissions import ACTIONS, _call
from tests.staffpages.test_permissions import ids as ids  # the fixture

ROOT = Path(__file__).resolve().parents[2]


def _denied() -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(event=events.ACCESS_DENIED).order_by("seq"))


@pytest.mark.parametrize("role", ROLES)
def test_each_refused_page_or_action_writes_one_denied_record_and_allowed_ones_none(
    role: str, client_for: Any, ids: dict[str, str], exam: Appointment, healthy: None
) -> None:
    client = client_for(role)
    patient_id = exam.patient.patient_id
    for name, method, path, allowed in ACTIONS:
        before = AuditRecord.objects.filter(event=events.ACCESS_DENIED).count()
        status = _call(client, name, method, path, ids)
        new = _denied()[before:]
        if role in allowed:
            assert status != 403, (name, status)
            assert new == [], name
            continue
        assert status == 403, (name, status)
        assert len(new) == 1, name
        record = new[0]
        assert (record.outcome, record.username) == (events.DENIED, f"{role}-1"), name
        assert record.object_ref == path.format(**ids), name
        assert record.detail.startswith(method.upper() + " clinic:"), name
        assert record.detail.endswith(": permission denied"), name
        assert record.source == "web:127.0.0.1", name
        # Every staff URL but the audit log and the status page names an exam or a message
        # of this patient, or an unmatched study (the patient ID it arrived with).
        if "{a}" in path or "{m}" in path:
            assert record.patient_ref == patient_id, name
        elif "{s}" in path:
            assert record.patient_ref == "UNKNOWN7", name
        else:
            assert record.patient_ref == "", name
    assert audit_verify().ok


def test_the_audit_page_refused_records_the_path_without_its_query_string(
    client_for: Any,
) -> None:
    client = client_for("frontdesk")
    response = client.get("/staff/audit/?patient_ref=P1&next=secret-token-123")
    assert response.status_code == 403
    [record] = _denied()
    assert record.object_ref == "/staff/audit/"
    assert "secret-token-123" not in record.detail + record.object_ref
    assert record.patient_ref == ""
    assert not AuditRecord.objects.filter(event=events.AUDIT_VIEWED).exists()


def test_a_refused_json_endpoint_is_audited(client_for: Any, exam: Appointment) -> None:
    client = client_for("frontdesk")
    url = f"/staff/exams/{exam.accession_number}/thumbnails.json"
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    [record] = _denied()
    assert (record.object_ref, record.patient_ref) == (url, exam.patient.patient_id)


def test_control_characters_in_the_path_are_escaped(client_for: Any) -> None:
    client = client_for("frontdesk")
    response = client.post("/staff/exams/X%0D%0A%1B[2J/send")
    assert response.status_code == 403
    [record] = _denied()
    assert record.object_ref == "/staff/exams/X\\r\\n\\x1b[2J/send"
    assert record.patient_ref == ""  # no such exam: nothing to name


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("frontdesk", "/staff/admin/audit/auditrecord/"),
        ("sonographer", "/staff/admin/audit/auditrecord/"),
        ("sonographer", "/staff/admin/imaging/devicerule/"),
        ("administrator", "/staff/admin/imaging/devicerule/add/"),
        ("frontdesk", "/staff/admin/archive/study/"),
    ],
)
def test_an_admin_page_without_the_permission_is_audited(
    role: str, path: str, client_for: Any
) -> None:
    response = client_for(role).get(path)
    assert response.status_code == 403
    [record] = _denied()
    assert (record.object_ref, record.outcome, record.username) == (path, "denied", f"{role}-1")
    assert record.detail.startswith("GET admin:") and record.detail.endswith("permission denied")


def _admin_object_pk(kind: str, exam: Appointment) -> int:
    if kind == "clinic/patient":
        return exam.patient.pk
    if kind == "clinic/appointment":
        return exam.pk
    if kind == "archive/study":
        return Study.objects.get(appointment=exam).pk
    return Message.objects.filter(patient_ref=exam.patient.patient_id).first().pk  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "kind", ["clinic/patient", "clinic/appointment", "archive/study", "notify/message"]
)
def test_a_refused_admin_delete_names_the_patient(
    kind: str, client_for: Any, exam: Appointment
) -> None:
    path = f"/staff/admin/{kind}/{_admin_object_pk(kind, exam)}/delete/"
    response = client_for("administrator").post(path, {"post": "yes"})
    assert response.status_code == 403  # no role deletes these
    [record] = _denied()
    assert (record.object_ref, record.patient_ref) == (path, exam.patient.patient_id)
    assert Appointment.objects.filter(pk=exam.pk).exists()


def test_admin_pages_the_role_may_see_write_no_denied_record(client_for: Any) -> None:
    client = client_for("administrator")
    for path in ("/staff/admin/", "/staff/admin/audit/auditrecord/", "/staff/audit/"):
        assert client.get(path).status_code == 200, path
    assert _denied() == []


def test_a_refused_csrf_check_is_audited_as_such(personas: Any, ids: dict[str, str]) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY

    user, device = personas["sonographer"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    response = client.post(f"/staff/exams/{ids['a']}/hold", {"on_hold": "on"})
    assert response.status_code == 403
    [record] = _denied()
    assert record.detail == "POST clinic:exam-hold: refused, not by a permission check (e.g. CSRF)"


def test_nobody_logged_out_is_audited_they_are_sent_to_the_login(
    db: Any, ids: dict[str, str]
) -> None:
    client = Client()
    assert client.get("/staff/audit/").status_code == 302
    assert client.get("/staff/admin/audit/auditrecord/").status_code == 302
    assert client.post(f"/staff/exams/{ids['a']}/send").status_code == 302
    assert _denied() == []


def test_a_failing_audit_write_still_answers_403_and_logs(
    client_for: Any, exam: Appointment, monkeypatch: Any, caplog: Any
) -> None:
    def locked(**kwargs: Any) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr("echoshare.clinic.middleware.audit_record", locked)
    client = client_for("frontdesk")
    with caplog.at_level(logging.ERROR, logger="echoshare.clinic.middleware"):
        response = client.post(f"/staff/exams/{exam.accession_number}/send")
        forging = client.post("/staff/exams/X%0AFAKE ERROR/send")
    assert (response.status_code, forging.status_code) == (403, 403)
    assert _denied() == []
    assert "access.denied not audited: POST /staff/exams/" in caplog.text
    assert "database is locked" in caplog.text
    assert "/staff/exams/X\\nFAKE ERROR/send" in caplog.text
    assert "\nFAKE" not in caplog.text


def test_a_failing_patient_lookup_still_answers_403(
    client_for: Any, exam: Appointment, monkeypatch: Any
) -> None:
    def broken(model: Any, **lookup: Any) -> str:
        raise OperationalError("connection lost")

    monkeypatch.setattr(middleware, "_patient_of", broken)
    client = client_for("frontdesk")
    response = client.post(f"/staff/exams/{exam.accession_number}/send")
    assert response.status_code == 403
    assert _denied() == []
    # Nothing half-written: the next refusal (no exam in its URL) chains on as usual.
    assert client.get("/staff/audit/").status_code == 403
    assert len(_denied()) == 1
    assert audit_verify().ok


def test_a_flood_of_refusals_is_answered_and_audited_in_one_chain(client_for: Any) -> None:
    client = client_for("sonographer")
    statuses = {client.get("/staff/audit/").status_code for _ in range(40)}
    assert statuses == {403}
    assert len(_denied()) == 40
    assert audit_verify().ok


def _answering(status: int) -> AccessDeniedAuditMiddleware:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(status=status)

    return AccessDeniedAuditMiddleware(view)


def test_paths_outside_staff_and_anonymous_users_are_left_alone(personas: Any) -> None:
    """With ECHOSHARE_ROLE=all the portal's paths (they hold link tokens) pass through too."""
    user, _ = personas["frontdesk"]
    audit_middleware = _answering(403)
    portal = RequestFactory().get("/s/link-token-abc/")
    portal.user = user
    anonymous = RequestFactory().get("/staff/audit/")
    anonymous.user = AnonymousUser()
    for request in (portal, anonymous):
        assert audit_middleware(request).status_code == 403
    assert _denied() == []


def test_other_answers_are_not_audited(personas: Any) -> None:
    user, _ = personas["frontdesk"]
    for status in (200, 302, 401, 404, 429):
        request = RequestFactory().get("/staff/today/")
        request.user = user
        assert _answering(status)(request).status_code == status
    assert _denied() == []


def test_the_portal_tier_does_not_load_the_middleware() -> None:
    script = (
        "import json, sys, django\n"
        "from django.conf import settings\n"
        "django.setup()\n"
        "print(json.dumps({'middleware': settings.MIDDLEWARE,"
        " 'apps': settings.INSTALLED_APPS,"
        " 'loaded': sorted(m for m in sys.modules if m.startswith(('echoshare.clinic',"
        " 'echoshare.audit')))}))\n"
    )
    env = {
        **os.environ,
        "ECHOSHARE_ROLE": "portal",
        "DJANGO_SETTINGS_MODULE": "echoshare.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not any("AccessDenied" in name for name in loaded["middleware"])
    assert "echoshare.audit" not in loaded["apps"]
    assert loaded["loaded"] == []
