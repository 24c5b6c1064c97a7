"""The appointment's password: made at booking, kept hashed (and sealed only while it may
be resent), carried by the confirmation and reminder e-mails that arrive once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, Publication
from echoshare.clinic.passwords import password_reveal, passwords_drop_stale
from echoshare.clinic.publishing import (
    ShareActionError,
    contact_confirm,
    password_resend,
    password_slip,
)
from echoshare.clinic.services import appointment_change, appointment_status_set
from echoshare.lib.secrets import PASSWORD_ALPHABET, argon2_verify, is_argon2_hash
from echoshare.notify.models import Message
from echoshare.notify.services import messages_send_due
from tests.publishing.conftest import book, mail_texts

pytestmark = pytest.mark.django_db(transaction=True)


def _database_text() -> str:
    """Every value of the clinic's appointment, patient and message tables, as text."""
    with connection.cursor() as cursor:
        rows = []
        for table in ("clinic_appointment", "notify_message", "audit_auditrecord"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def test_each_appointment_gets_its_own_password_stored_only_hashed_and_sealed() -> None:
    first, second = book(), book(days_ahead=4)
    passwords = [password_reveal(appointment=a) for a in (first, second)]
    assert passwords[0] != passwords[1]
    for appointment, password in zip((first, second), passwords, strict=True):
        assert len(password) == 8 and set(password) <= set(PASSWORD_ALPHABET)
        assert is_argon2_hash(appointment.password_hash)
        assert argon2_verify(appointment.password_hash, password)
    stored = _database_text()
    assert not any(password in stored for password in passwords)


def test_booking_queues_confirmation_now_and_reminder_a_day_before() -> None:
    appointment = book()
    confirmation = Message.objects.get(kind=Message.Kind.BOOKING_CONFIRMATION)
    reminder = Message.objects.get(kind=Message.Kind.BOOKING_REMINDER)
    assert confirmation.recipient == reminder.recipient == "annelies@example.nl"
    assert reminder.next_attempt_at == appointment.scheduled_at - timedelta(hours=24)


def test_a_patient_without_email_gets_no_mail_but_a_slip() -> None:
    appointment = book(email="")
    assert not Message.objects.exists()
    slip = password_slip(appointment=appointment, user=None)
    assert password_reveal(appointment=appointment) in slip
    assert "Wachtwoord" in slip  # the patient's language: Dutch
    assert AuditRecord.objects.filter(event="password.slip_printed").count() == 1
    with pytest.raises(ShareActionError):
        password_resend(appointment=appointment, user=None)


def test_booking_mails_arrive_once_through_smtp_with_the_password(
    smtp_server: Any, settings: Any
) -> None:
    appointment = book(language="en")
    password = password_reveal(appointment=appointment)
    messages_send_due()
    messages_send_due()
    [(to, _subject, text)] = mail_texts(smtp_server)
    assert to == "annelies@example.nl" and password in text
    with time_machine.travel(appointment.scheduled_at - timedelta(hours=23), tick=False):
        messages_send_due()
        messages_send_due()
    mails = mail_texts(smtp_server)
    assert len(mails) == 2 and password in mails[1][2]
    assert mails[0][1] != mails[1][1]  # confirmation, then reminder


def test_moving_the_appointment_moves_the_reminder_and_cancelling_withdraws_it() -> None:
    appointment = book()
    appointment_change(
        appointment=appointment, scheduled_at=appointment.scheduled_at + timedelta(days=2)
    )
    reminders = Message.objects.filter(kind=Message.Kind.BOOKING_REMINDER).order_by("id")
    assert [m.state for m in reminders] == ["cancelled", "queued"]
    assert reminders[1].next_attempt_at == appointment.scheduled_at - timedelta(hours=24)
    appointment_status_set(appointment=appointment, status=Appointment.Status.CANCELLED)
    assert set(reminders.values_list("state", flat=True)) == {"cancelled"}


def test_password_resend_queues_a_new_mail_with_the_same_password(smtp_server: Any) -> None:
    appointment = book()
    password_resend(appointment=appointment, user=None)
    assert Message.objects.filter(kind=Message.Kind.BOOKING_CONFIRMATION).count() == 2
    messages_send_due()
    texts = [text for _, _, text in mail_texts(smtp_server)]
    assert len(texts) == 2
    assert all(password_reveal(appointment=appointment) in text for text in texts)
    assert AuditRecord.objects.filter(event="password.sent").count() == 1


def test_contact_confirm_normalizes_the_phone_and_mails_a_new_address() -> None:
    appointment = book(email="", phone="")
    contact_confirm(
        appointment=appointment, phone="06 1234 5678", email="new@example.nl", user=None
    )
    appointment.patient.refresh_from_db()
    assert appointment.patient.phone == "+31612345678"
    assert appointment.contact_confirmed_at is not None
    mail = Message.objects.get(kind=Message.Kind.BOOKING_CONFIRMATION)
    assert mail.recipient == "new@example.nl"
    record = AuditRecord.objects.get(event="contact.confirmed")
    assert "new@example.nl" not in record.detail  # the audit names fields, not values


@pytest.mark.parametrize(
    ("phone", "email", "field"), [("12", "", "phone"), ("", "not-an-address", "e-mail")]
)
def test_contact_confirm_refuses_bad_values_and_changes_nothing(
    phone: str, email: str, field: str
) -> None:
    appointment = book()
    with pytest.raises(ValueError, match=field):
        contact_confirm(appointment=appointment, phone=phone, email=email, user=None)
    appointment.patient.refresh_from_db()
    assert appointment.patient.phone == "+31612345678"
    assert appointment.contact_confirmed_at is None


def test_readable_passwords_are_dropped_when_no_longer_needed() -> None:
    upcoming, cancelled, past, shared = (book(days_ahead=d) for d in (3, 4, 5, 6))
    appointment_status_set(appointment=cancelled, status=Appointment.Status.CANCELLED)
    Appointment.objects.filter(pk__in=[past.pk, shared.pk]).update(
        scheduled_at=timezone.now() - timedelta(days=31)
    )
    Publication.objects.create(
        appointment=shared,
        idempotency_key="es-test-open-share-0001",
        expires_at=timezone.now() + timedelta(days=20),
        state=Publication.State.SENT,
    )
    assert passwords_drop_stale() == 2
    kept = set(Appointment.objects.exclude(password_sealed="").values_list("pk", flat=True))
    assert kept == {upcoming.pk, shared.pk}
    assert passwords_drop_stale() == 0
    assert all(a.password_hash for a in Appointment.objects.all())


def test_a_slip_after_the_password_was_dropped_carries_a_new_one() -> None:
    appointment = book(email="")
    old_hash = appointment.password_hash
    Appointment.objects.filter(pk=appointment.pk).update(password_sealed="")
    appointment.refresh_from_db()
    slip = password_slip(appointment=appointment, user=None)
    appointment.refresh_from_db()
    assert appointment.password_hash != old_hash
    assert password_reveal(appointment=appointment) in slip
