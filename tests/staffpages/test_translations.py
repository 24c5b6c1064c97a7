"""The staff pages in Dutch and English, by the browser's language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from echoshare.clinic.models import ApiToken, Appointment, Publication
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


# The admin's English model and app names (issue 7): none may show on the Dutch index.
ENGLISH_ADMIN_NAMES = (
    "Appointments",
    "Patients",
    "Device rules",
    "Destruction requests",
    "Fixity runs",
    "Instances",
    "Studies",
    "Audit records",
    "Messages",
    "Booking API tokens",
    "Clinic",
    "Archive",
    "Imaging",
    "Staff pages",
    "Background jobs",
)


def test_the_admin_index_in_dutch_names_apps_and_models_in_dutch(
    client_for: Any, personas: Any
) -> None:
    page = client_for("administrator").get("/staff/admin/", HTTP_ACCEPT_LANGUAGE="nl")
    assert page.status_code == 200
    text = page.content.decode()
    for dutch in (
        "Kliniek",
        "Patiënten",
        "Afspraken",
        "API-sleutels van het boekingssysteem",
        "Archief",
        "DICOM-onderzoeken",
        "DICOM-objecten",
        "Integriteitscontroles",
        "Vernietigingsverzoeken",
        "Auditlog",
        "Auditregels",
        "Beeldbewerking",
        "Apparaatregels",
    ):
        assert f">{dutch}<" in text, dutch
    assert [name for name in ENGLISH_ADMIN_NAMES if f">{name}<" in text] == []
    # No role sees the messages or the jobs in the admin; a superuser sees every app.
    user, _device = personas["administrator"]
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    everything = client_for("administrator").get("/staff/admin/", HTTP_ACCEPT_LANGUAGE="nl")
    text = everything.content.decode()
    for dutch in ("Berichten", "Achtergrondtaken", "Taakpogingen", "Periodieke planningen"):
        assert f">{dutch}<" in text, dutch
    assert [name for name in ENGLISH_ADMIN_NAMES if f">{name}<" in text] == []
    english = client_for("administrator").get("/staff/admin/", HTTP_ACCEPT_LANGUAGE="en")
    assert ">Patients<" in english.content.decode()  # the names exist, in English


def test_the_admin_columns_in_dutch_name_patient_and_creator(
    client_for: Any, exam: Appointment
) -> None:
    client = client_for("administrator")
    appointments = client.get("/staff/admin/clinic/appointment/", HTTP_ACCEPT_LANGUAGE="nl")
    assert appointments.status_code == 200
    assert ">Patiënt<" in appointments.content.decode()
    ApiToken.objects.create(name="agenda", token_hash="0" * 64, prefix="abcd1234")
    tokens = client.get("/staff/admin/clinic/apitoken/", HTTP_ACCEPT_LANGUAGE="nl")
    assert tokens.status_code == 200
    text = tokens.content.decode()
    assert "Aangemaakt op" in text and "Created at" not in text
    # The plural the admin used to build from the singular ("...boekingssysteems").
    assert "boekingssysteems" not in text


def test_the_status_page_in_dutch_groups_numbers_and_uses_real_plurals(
    client_for: Any, exam: Appointment, settings: Any, healthy: Any
) -> None:
    settings.MONITOR_DISK_FREE_MB = 12345
    # One message given up: the Dutch singular, not "bericht(en)".
    message = Message.objects.first()
    assert message is not None and Message.objects.count() == 1
    Message.objects.filter(pk=message.pk).update(state=Message.State.GAVE_UP)
    page = client_for("administrator").get("/staff/status/", HTTP_ACCEPT_LANGUAGE="nl")
    assert page.status_code == 200
    text = page.content.decode()
    # A comma is the decimal sign in Dutch: 12,345 would read as twelve.
    assert "(melding onder 12.345 MB)" in text and "12,345" not in text
    assert "1 bericht vraagt om een medewerker" in text
    assert "0 taken wachtend, 0 verwerkers actief" in text
    assert "(en)" not in text and "taak/taken" not in text
    english = client_for("administrator").get("/staff/status/", HTTP_ACCEPT_LANGUAGE="en")
    text = english.content.decode()
    assert "(alert below 12,345 MB)" in text and "1 message needs staff" in text
