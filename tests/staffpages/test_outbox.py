"""Outbox: messages that gave up are shown with their error and can be retried."""

from __future__ import annotations

from typing import Any

from echoshare.clinic.models import Appointment
from echoshare.notify.models import Message


def _gave_up(exam: Appointment) -> Message:
    message = Message.objects.filter(patient_ref=exam.patient.patient_id).first()
    assert message is not None
    Message.objects.filter(pk=message.pk).update(
        state=Message.State.GAVE_UP, attempts=8, last_error="SMTP 550 mailbox unavailable"
    )
    message.refresh_from_db()
    return message


def test_the_front_desk_sees_a_given_up_message_with_its_error_and_retries_it(
    client_for: Any, exam: Appointment
) -> None:
    message = _gave_up(exam)
    client = client_for("frontdesk")
    page = client.get("/staff/outbox/").content.decode()
    assert "SMTP 550 mailbox unavailable" in page and "PUBPID0042" in page
    response = client.post(f"/staff/outbox/{message.reference}/retry")
    assert response.status_code == 303
    message.refresh_from_db()
    assert message.state == Message.State.QUEUED
    assert message.retried_by is not None and message.retried_by.username == "frontdesk-1"
    assert "SMTP 550" not in client.get("/staff/outbox/").content.decode()


def test_a_message_that_cannot_be_retried_gives_409_and_is_unchanged(
    client_for: Any, exam: Appointment
) -> None:
    message = _gave_up(exam)
    Message.objects.filter(pk=message.pk).update(sealed_text="")  # text dropped after retention
    response = client_for("frontdesk").post(f"/staff/outbox/{message.reference}/retry")
    assert response.status_code == 409
    assert "retention" in response.content.decode()
    message.refresh_from_db()
    assert message.state == Message.State.GAVE_UP


def test_an_unknown_outcome_can_be_marked_sent(client_for: Any, exam: Appointment) -> None:
    message = _gave_up(exam)
    Message.objects.filter(pk=message.pk).update(state=Message.State.UNKNOWN)
    client = client_for("sonographer")
    assert "Mark as sent" in client.get("/staff/outbox/").content.decode()
    assert client.post(f"/staff/outbox/{message.reference}/mark-sent").status_code == 303
    message.refresh_from_db()
    assert message.state == Message.State.SENT
    assert (
        client.post("/staff/outbox/00000000-0000-0000-0000-000000000000/retry").status_code == 404
    )
