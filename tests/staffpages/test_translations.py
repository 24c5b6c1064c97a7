"""The staff pages in Dutch and English, by the browser's language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from echoshare.clinic.models import Appointment, Publication
from echoshare.notify.models import Message


def test_the_pages_follow_the_browsers_language(client_for: Any, exam: Appointment) -> None:
    client = client_for("sonographer")
    dutch = client.get("/staff/today/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Afspraken op" in dutch and "beelden ontvangen" in dutch
    english = client.get("/staff/today/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Appointments on" in english and "images received" in english
    page = client.get(f"/staff/exams/{exam.accession_number}/", HTTP_ACCEPT_LANGUAGE="nl")
    assert "Naar patiënt sturen" in page.content.decode()
    assert "Wat de patiënt krijgt" in page.content.decode()


def _message(
    exam: Appointment,
    kind: Message.Kind,
    channel: Message.Channel,
    state: Message.State,
    *,
    key: str,
    error: str = "",
) -> Message:
    return Message.objects.create(
        kind=kind,
        channel=channel,
        recipient="+31612345678" if channel == Message.Channel.SMS else "j.jansen@example.nl",
        language="nl",
        idempotency_key=key,
        patient_ref=exam.patient.patient_id,
        state=state,
        last_error=error,
    )


def _publication(exam: Appointment, state: Publication.State, key: str) -> Publication:
    return Publication.objects.create(
        appointment=exam,
        state=state,
        idempotency_key=key,
        expires_at=timezone.now() + timedelta(days=60),
        sent_at=timezone.now(),
    )


# The English choice labels these tests made sure are translated; none may show in Dutch.
ENGLISH_LABELS = (
    "booking confirmation",
    "booking reminder",
    "link to the images",
    "expiry reminder",
    "(SMS)",
    "queued",
    "sending",
    "failed, will retry",
    "gave up",
    "outcome unknown",
    "waiting to be published",
    "downloaded",
    "deleted by the patient",
)


def _english_left(page: str) -> list[str]:
    return [label for label in ENGLISH_LABELS if label in page]


def test_the_outbox_in_dutch_names_kind_channel_and_state_in_dutch(
    client_for: Any, exam: Appointment
) -> None:
    sms, email = Message.Channel.SMS, Message.Channel.EMAIL
    _message(exam, Message.Kind.BOOKING_CONFIRMATION, email, Message.State.GAVE_UP, key="t1")
    _message(exam, Message.Kind.BOOKING_REMINDER, sms, Message.State.FAILED, key="t2")
    _message(exam, Message.Kind.EXPIRY_REMINDER, email, Message.State.UNKNOWN, key="t3")
    _message(exam, Message.Kind.SHARE_LINK, sms, Message.State.GAVE_UP, key="t4")
    page = client_for("frontdesk").get("/staff/outbox/", HTTP_ACCEPT_LANGUAGE="nl")
    assert page.status_code == 200
    text = page.content.decode()
    assert "afspraakbevestiging (e-mail)" in text
    assert "afspraakherinnering (sms)" in text
    assert "herinnering verloopdatum (e-mail)" in text
    assert "link naar de beelden (sms)" in text
    assert "definitief mislukt" in text
    assert "mislukt, wordt opnieuw geprobeerd" in text
    assert "resultaat onbekend" in text
    assert _english_left(text) == []
    english = client_for("frontdesk").get("/staff/outbox/", HTTP_ACCEPT_LANGUAGE="en")
    assert "link to the images (SMS)" in english.content.decode()  # the labels are still there


def test_the_share_history_in_dutch_names_shares_and_messages_in_dutch(
    client_for: Any, exam: Appointment
) -> None:
    sms, email = Message.Channel.SMS, Message.Channel.EMAIL
    states = (
        Publication.State.DELETED,
        Publication.State.DOWNLOADED,
        Publication.State.QUEUED,
    )
    for number, state in enumerate(states):
        publication = _publication(exam, state, key=f"history-{number}")
        prefix = f"publication:{publication.key}:"
        _message(exam, Message.Kind.SHARE_LINK, sms, Message.State.QUEUED, key=f"{prefix}sms")
        _message(
            exam, Message.Kind.EXPIRY_REMINDER, email, Message.State.SENDING, key=f"{prefix}mail"
        )
    _message(exam, Message.Kind.BOOKING_REMINDER, sms, Message.State.QUEUED, key="reminder")
    page = client_for("frontdesk").get(
        f"/staff/exams/{exam.accession_number}/", HTTP_ACCEPT_LANGUAGE="nl"
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "Geschiedenis van de deling" in text
    for label in ("wacht op publicatie", "gedownload", "verwijderd door de patiënt"):
        assert f": {label}</h3>" in text, label
    assert text.count("link naar de beelden (sms): in de wachtrij") == 3
    assert text.count("herinnering verloopdatum (e-mail): wordt verstuurd") == 3
    assert "afspraakherinnering (sms): in de wachtrij" in text  # under "Andere berichten"
    assert _english_left(text) == []
