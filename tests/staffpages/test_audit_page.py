"""Audit: the log filtered by event, patient, staff member and dates; each look is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment


def test_it_filters_by_patient_and_event_and_records_the_look(
    client_for: Any, personas: Any, exam: Appointment
) -> None:
    client_for("sonographer").get(f"/staff/exams/{exam.accession_number}/")
    admin = client_for("administrator")
    page = admin.get(
        "/staff/audit/", {"patient_ref": "PUBPID0042", "event": "study."}
    ).content.decode()
    assert "study.viewed" in page and "sonographer-1" in page
    assert "appointment.created" not in page  # same patient, other event
    # Exactly one record of the look (G1), with who looked, at which patient, and the outcome.
    [look] = AuditRecord.objects.filter(event=events.AUDIT_VIEWED)
    assert look.user == personas["administrator"][0] and look.username == "administrator-1"
    assert look.patient_ref == "PUBPID0042" and "PUBPID0042" in look.detail
    assert look.outcome == events.SUCCESS


def test_it_filters_by_staff_member_and_dates(client_for: Any, exam: Appointment) -> None:
    client_for("frontdesk").get("/staff/today/")
    admin = client_for("administrator")
    page = admin.get("/staff/audit/", {"username": "frontdesk-1"}).content.decode()
    assert "appointment.viewed" in page and "sonographer-1" not in page
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    page = admin.get("/staff/audit/", {"since": tomorrow}).content.decode()
    assert "No records match." in page
    bad = admin.get("/staff/audit/", {"since": "not a date"})
    assert bad.status_code == 200 and "No records match." in bad.content.decode()
