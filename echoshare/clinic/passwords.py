"""The appointment's password: made at booking, sent by e-mail, kept only as long as needed.

DESIGN "Secrets and codes": 8 characters without look-alikes, one per appointment, stored as
an argon2id hash (what the portal gets) and sealed (encrypted with
ECHOSHARE_CLINIC_SECRETS_KEY) only while it may have to be sent again. It never appears in a
log or an audit record.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from echoshare.clinic.models import Appointment, Publication
from echoshare.lib.secrets import argon2_hash, new_password
from echoshare.notify.models import Message
from echoshare.notify.sealing import SealBrokenError, seal, unseal
from echoshare.notify.services import booking_reminder_at, message_cancel, message_queue

logger = logging.getLogger(__name__)


class PasswordUnavailable(Exception):
    """The password can no longer be read (dropped after the share ended, or a lost key)."""


def password_issue(*, appointment: Appointment) -> str:
    """Give the appointment a new password: store its hash and sealed copy, return it."""
    password = new_password()
    appointment.password_hash = argon2_hash(password)
    appointment.password_sealed = seal({"password": password})
    appointment.save(update_fields=["password_hash", "password_sealed", "updated_at"])
    return password


def password_reveal(*, appointment: Appointment) -> str:
    """The plaintext password, for a message or a slip. Raises PasswordUnavailable."""
    if not appointment.password_sealed:
        raise PasswordUnavailable("the password is no longer kept for this appointment")
    try:
        return str(unseal(appointment.password_sealed)["password"])
    except (SealBrokenError, KeyError) as exc:
        raise PasswordUnavailable(str(exc)) from exc


def password_drop(*, appointment: Appointment) -> None:
    """Forget the readable copy; the hash stays (a republished share needs only the hash)."""
    if appointment.password_sealed:
        appointment.password_sealed = ""
        appointment.save(update_fields=["password_sealed", "updated_at"])


def passwords_drop_stale(*, now: datetime | None = None) -> int:
    """Forget the readable passwords no longer needed: appointments cancelled, or past by
    ECHOSHARE_PASSWORD_KEEP_DAYS, that have no open share. Idempotent; returns the count."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.PASSWORD_KEEP_DAYS)
    stale = (
        Appointment.objects.exclude(password_sealed="")
        .filter(Q(scheduled_at__lt=cutoff) | Q(status=Appointment.Status.CANCELLED))
        .exclude(publications__state__in=Publication.OPEN_STATES)
    )
    return stale.update(password_sealed="", updated_at=now)


def booking_context(*, appointment: Appointment, password: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "clinic_name": settings.CLINIC_NAME,
        "appointment_at": appointment.scheduled_at,
        "password": password,
        "exam_type": appointment.exam_type,
        "share_months": settings.DEFAULT_SHARE_MONTHS,
    }
    if settings.CLINIC_PHONE:
        context["clinic_phone"] = settings.CLINIC_PHONE
    return context


def reminder_key(appointment: Appointment) -> str:
    # The time is part of the key: a moved appointment gets a new reminder under a new key.
    return f"appointment:{appointment.pk}:reminder:{appointment.scheduled_at:%Y%m%d%H%M}"


def booking_messages_queue(*, appointment: Appointment) -> list[Message]:
    """Queue the confirmation now and the reminder before the appointment (e-mail only).

    Call inside the booking's transaction. Nothing is queued for a patient without e-mail:
    the front desk hands them a password slip instead.
    """
    patient = appointment.patient
    if not patient.email:
        return []
    context = booking_context(
        appointment=appointment, password=password_reveal(appointment=appointment)
    )
    common: dict[str, Any] = {
        "channel": Message.Channel.EMAIL,
        "recipient": patient.email,
        "language": patient.language,
        "context": context,
        "patient_ref": patient.patient_id,
    }
    queued = [
        message_queue(
            kind=Message.Kind.BOOKING_CONFIRMATION,
            idempotency_key=f"appointment:{appointment.pk}:confirmation",
            **common,
        )
    ]
    remind_at = booking_reminder_at(appointment.scheduled_at)
    if remind_at is not None:
        queued.append(
            message_queue(
                kind=Message.Kind.BOOKING_REMINDER,
                idempotency_key=reminder_key(appointment),
                send_after=remind_at,
                **common,
            )
        )
    return queued


def booking_password_start(*, appointment: Appointment) -> None:
    """At booking: issue the password and queue the booking e-mails, in the caller's
    transaction (so a failed booking leaves neither)."""
    with transaction.atomic():
        password_issue(appointment=appointment)
        try:
            booking_messages_queue(appointment=appointment)
        except ValueError as exc:  # e.g. an address the mail layer refuses: book anyway
            logger.warning("booking e-mails for appointment %s not queued: %s", appointment.pk, exc)


def booking_reminder_move(*, appointment: Appointment, previous_key: str) -> None:
    """The appointment moved: withdraw the old reminder and queue one for the new time."""
    if previous_key == reminder_key(appointment):
        return
    message_cancel(idempotency_key=previous_key)
    patient = appointment.patient
    remind_at = booking_reminder_at(appointment.scheduled_at)
    if not patient.email or remind_at is None or not appointment.password_sealed:
        return
    message_queue(
        kind=Message.Kind.BOOKING_REMINDER,
        channel=Message.Channel.EMAIL,
        recipient=patient.email,
        language=patient.language,
        context=booking_context(
            appointment=appointment, password=password_reveal(appointment=appointment)
        ),
        patient_ref=patient.patient_id,
        idempotency_key=reminder_key(appointment),
        send_after=remind_at,
    )
