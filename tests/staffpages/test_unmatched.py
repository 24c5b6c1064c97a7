"""Unmatched: studies that matched no appointment are listed and can be assigned."""

from __future__ import annotations

from typing import Any

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment


def test_it_lists_unmatched_studies_and_assigns_one_to_an_exam(
    client_for: Any, exam: Appointment, make_unmatched: Any
) -> None:
    study = make_unmatched()
    client = client_for("sonographer")
    page = client.get("/staff/unmatched/").content.decode()
    assert "Onbekend^Iemand" in page and "UNKNOWN7" in page
    response = client.post(
        f"/staff/unmatched/{study.key}/assign", {"accession_number": exam.accession_number}
    )
    assert response.status_code == 303
    study.refresh_from_db()
    assert study.appointment_id == exam.pk
    assert "UNKNOWN7" not in client.get("/staff/unmatched/").content.decode()
    linked = AuditRecord.objects.get(event=events.INSTANCE_LINKED)
    assert linked.patient_ref == exam.patient.patient_id and linked.username == "sonographer-1"


def test_an_unknown_accession_number_is_refused_and_nothing_changes(
    client_for: Any, make_unmatched: Any
) -> None:
    study = make_unmatched()
    client = client_for("administrator")
    response = client.post(f"/staff/unmatched/{study.key}/assign", {"accession_number": "X1"})
    assert response.status_code == 404
    assert "No appointment has accession number X1" in response.content.decode()
    response = client.post(f"/staff/unmatched/{study.key}/assign", {})
    assert response.status_code == 400
    study.refresh_from_db()
    assert study.appointment_id is None


def test_a_study_already_assigned_cannot_be_assigned_again(
    client_for: Any, exam: Appointment
) -> None:
    study = exam.studies.get()
    response = client_for("sonographer").post(
        f"/staff/unmatched/{study.key}/assign", {"accession_number": exam.accession_number}
    )
    assert response.status_code == 404
