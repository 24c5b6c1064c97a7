"""Today: the day's appointments with their state, another day, search, the refresh fragment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, Publication
from echoshare.clinic.staff.states import exam_state
from tests.staffpages.conftest import book


def test_it_lists_todays_appointments_with_their_state_and_not_other_days(
    client_for: Any, exam: Appointment
) -> None:
    later = book(days_ahead=2, patient_id="LATER0001", family_name="Later")
    page = client_for("frontdesk").get("/staff/today/").content.decode()
    assert exam.accession_number in page and 'data-state="images_received"' in page
    assert later.accession_number not in page
    other_day = (timezone.localdate() + timedelta(days=2)).isoformat()
    page = client_for("frontdesk").get(f"/staff/today/?date={other_day}").content.decode()
    assert later.accession_number in page and exam.accession_number not in page


def test_the_refresh_fragment_shows_a_state_change_without_the_page(
    client_for: Any, exam: Appointment
) -> None:
    client = client_for("frontdesk")
    assert 'data-state="images_received"' in client.get("/staff/today/rows/").content.decode()
    Publication.objects.create(
        appointment=exam,
        state=Publication.State.OPENED,
        idempotency_key="today-test",
        expires_at=timezone.now() + timedelta(days=60),
    )
    rows = client.get("/staff/today/rows/").content.decode()
    assert 'data-state="opened"' in rows and "<html" not in rows


def test_search_finds_by_name_birth_date_patient_id_and_accession_number(
    client_for: Any, exam: Appointment
) -> None:
    book(days_ahead=30, patient_id="NOTHER0001", family_name="Jansen", birth_date="1980-01-01")
    client = client_for("frontdesk")
    for query in ("vandermeu", "17-04-1991", "1991-04-17", "PUBPID0042", exam.accession_number):
        page = client.get("/staff/today/", {"q": query}).content.decode()
        assert exam.accession_number in page, query
        assert "Jansen" not in page, query
    page = client.get("/staff/today/", {"q": "nobody-like-this"}).content.decode()
    assert exam.accession_number not in page


def test_looking_at_the_list_is_audited_once_per_page_not_per_refresh(
    client_for: Any, exam: Appointment
) -> None:
    client = client_for("frontdesk")
    client.get("/staff/today/", {"q": "PUBPID0042"})
    client.get("/staff/today/rows/")
    client.get("/staff/today/rows/")
    records = AuditRecord.objects.filter(event=events.APPOINTMENT_VIEWED, object_ref="today list")
    assert records.count() == 1
    assert "PUBPID0042" in records.get().detail


def test_the_states_follow_the_exam(db: Any, tmp_path: Any) -> None:
    from tests.staffpages.conftest import ingest

    appointment = book(days_ahead=0)
    assert exam_state(appointment).code == "booked"
    ingest(appointment, tmp_path / "in", regions=None)
    from echoshare.clinic.selection import selected_item_mask, selection_items

    assert exam_state(appointment).code == "images_received"
    for item in selection_items(appointment=appointment):
        selected_item_mask(item=item)
    assert exam_state(appointment).code == "needs_review"
    Appointment.objects.filter(pk=appointment.pk).update(on_hold=True)
    appointment.refresh_from_db()
    assert exam_state(appointment).code == "on_hold"
    Publication.objects.create(
        appointment=appointment,
        state=Publication.State.DELETED,
        idempotency_key="state-test",
        expires_at=timezone.now(),
    )
    assert exam_state(appointment).code == "deleted_by_patient"


def test_a_bad_date_shows_today_instead_of_failing(client_for: Any, exam: Appointment) -> None:
    response = client_for("frontdesk").get("/staff/today/", {"date": "2026-02-31"})
    assert response.status_code == 200
    assert exam.accession_number in response.content.decode()
