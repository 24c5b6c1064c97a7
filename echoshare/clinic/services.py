"""Writes to patients, appointments and booking API tokens; each audited in its transaction."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.booking_input import Booking, PatientData
from echoshare.clinic.models import ApiToken, Appointment, Patient
from echoshare.clinic.passwords import booking_password_start, booking_reminder_move, reminder_key
from echoshare.lib.secrets import DELETE_CODE_ALPHABET, keyed_hash, new_token
from echoshare.notify.services import message_cancel

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ACCESSION_RANDOM_LENGTH = 6
APPOINTMENT_CHANGEABLE = ("patient", "scheduled_at", "exam_type", "modality", "station_ae_title")


class BookingConflict(Exception):
    """The request contradicts what is stored (e.g. an accession number of another patient)."""


def _changed(instance: Any, values: dict[str, Any]) -> list[str]:
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, values[name])
    return changed


def patient_upsert(
    *, data: PatientData, user: User | None = None, source: str = ""
) -> tuple[Patient, bool]:
    """Create the patient with this patient ID, or bring the stored one up to date.

    Returns (patient, created). The audit record names the changed fields, not their values.
    """
    values = asdict(data)
    patient_id = values.pop("patient_id")
    with transaction.atomic():
        patient = Patient.objects.select_for_update().filter(patient_id=patient_id).first()
        if patient is None:
            patient = Patient.objects.create(patient_id=patient_id, **values)
            audit_record(
                event=events.PATIENT_CREATED, user=user, patient_ref=patient_id, source=source
            )
            return patient, True
        changed = _changed(patient, values)
        if changed:
            patient.save()
            audit_record(
                event=events.PATIENT_CHANGED,
                user=user,
                patient_ref=patient_id,
                detail="fields: " + ", ".join(changed),
                source=source,
            )
        return patient, False


def accession_number_new(now: datetime | None = None) -> str:
    """ "ES" + date (yymmdd) + 6 random characters: 14 characters, unique, sortable by day."""
    day = timezone.localtime(now or timezone.now()).strftime("%y%m%d")
    for _ in range(10):
        tail = "".join(secrets.choice(DELETE_CODE_ALPHABET) for _ in range(ACCESSION_RANDOM_LENGTH))
        candidate = f"ES{day}{tail}"
        if not Appointment.objects.filter(accession_number=candidate).exists():
            return candidate
    raise RuntimeError("could not find a free accession number")  # 31**6 per day: not reached


def appointment_create(
    *,
    patient: Patient,
    scheduled_at: datetime,
    exam_type: str,
    modality: str = "US",
    station_ae_title: str = "",
    accession_number: str = "",
    user: User | None = None,
    source: str = "",
    audit_event: str = events.APPOINTMENT_CREATED,
) -> Appointment:
    """Book an appointment; its StudyInstanceUID is assigned now, for the worklist."""
    with transaction.atomic():
        if (
            accession_number
            and Appointment.objects.filter(accession_number=accession_number).exists()
        ):
            raise BookingConflict(f"accession number {accession_number} is already booked")
        appointment = Appointment.objects.create(
            patient=patient,
            scheduled_at=scheduled_at,
            exam_type=exam_type,
            modality=modality or "US",
            station_ae_title=station_ae_title,
            accession_number=accession_number or accession_number_new(scheduled_at),
        )
        booking_password_start(appointment=appointment)  # password + booking e-mails
        audit_record(
            event=audit_event,
            user=user,
            patient_ref=patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            source=source,
        )
    return appointment


def appointment_change(
    *, appointment: Appointment, user: User | None = None, source: str = "", **changes: Any
) -> list[str]:
    """Change an appointment's booking fields; returns the names of the fields that changed."""
    unknown = set(changes) - set(APPOINTMENT_CHANGEABLE)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        previous_reminder = reminder_key(appointment)
        changed = _changed(appointment, changes)
        if changed:
            appointment.save()
            booking_reminder_move(appointment=appointment, previous_key=previous_reminder)
            audit_record(
                event=events.APPOINTMENT_CHANGED,
                user=user,
                patient_ref=appointment.patient.patient_id,
                object_ref=f"appointment {appointment.accession_number}",
                detail="fields: " + ", ".join(changed),
                source=source,
            )
    return changed


def appointment_status_set(
    *,
    appointment: Appointment,
    status: str,
    user: User | None = None,
    source: str = "",
    only_from: Collection[str] = (),
    reason: str = "",
) -> bool:
    """Move an appointment to booked/arrived/examined/cancelled; False if it already was.

    With `only_from`, the change is made only from one of those statuses (e.g. an exam's
    first image makes a booked or arrived appointment examined, never a cancelled one). The
    stored status is read under a row lock: of two callers at once (two associations of one
    exam) one changes it and the other finds it done, so there is one write and one audit
    record. `reason` ends the audit detail ("first image stored").
    """
    if status not in Appointment.Status.values:
        raise ValueError(f"unknown status {status!r}")
    # Decided on the object the caller holds first: the ingest calls this for every image,
    # and an exam already examined must cost no query.
    if appointment.status == status or (only_from and appointment.status not in only_from):
        return False
    with transaction.atomic():
        previous = (
            Appointment.objects.select_for_update()
            .values_list("status", flat=True)
            .get(pk=appointment.pk)
        )
        appointment.status = previous
        if previous == status or (only_from and previous not in only_from):
            return False
        appointment.status = status
        appointment.save(update_fields=["status", "updated_at"])
        cancelled = status == Appointment.Status.CANCELLED
        if cancelled:
            message_cancel(idempotency_key=reminder_key(appointment))
        audit_record(
            event=events.APPOINTMENT_CANCELLED if cancelled else events.APPOINTMENT_CHANGED,
            user=user,
            patient_ref=appointment.patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            detail=f"status: {previous} -> {status}" + (f" ({reason})" if reason else ""),
            source=source,
        )
    return True


# Before the exam: what its first image (or confirming the contact details) moves on from.
NOT_EXAMINED_YET = (Appointment.Status.BOOKED, Appointment.Status.ARRIVED)


def appointment_examined(
    *, appointment: Appointment, reason: str, user: User | None = None, source: str = ""
) -> bool:
    """The exam took place (its images are archived): booked or arrived becomes examined.

    A cancelled appointment stays cancelled (its images are kept and shown, and staff decide);
    an examined one is left alone without a query. True when the status changed.
    """
    return appointment_status_set(
        appointment=appointment,
        status=Appointment.Status.EXAMINED,
        only_from=NOT_EXAMINED_YET,
        user=user,
        source=source,
        reason=reason,
    )


def booking_apply(
    *, booking: Booking, user: User | None = None, source: str = ""
) -> tuple[Appointment, str]:
    """Create or change the appointment a booking system sends: idempotent per accession number.

    Returns (appointment, "created" | "changed" | "unchanged").
    """
    with transaction.atomic():
        existing = None
        if booking.accession_number:
            existing = (
                Appointment.objects.select_for_update()
                .select_related("patient")
                .filter(accession_number=booking.accession_number)
                .first()
            )
        if existing is not None and existing.patient.patient_id != booking.patient.patient_id:
            raise BookingConflict("accession number belongs to another patient")
        if existing is not None and existing.status == Appointment.Status.CANCELLED:
            raise BookingConflict("appointment is cancelled")
        patient, _ = patient_upsert(data=booking.patient, user=user, source=source)
        fields: dict[str, Any] = {
            "scheduled_at": booking.scheduled_at,
            "exam_type": booking.exam_type,
            "modality": booking.modality or "US",
            "station_ae_title": booking.station_ae_title,
        }
        if existing is None:
            appointment = appointment_create(
                patient=patient,
                accession_number=booking.accession_number,
                user=user,
                source=source,
                **fields,
            )
            return appointment, "created"
        changed = appointment_change(appointment=existing, user=user, source=source, **fields)
        return existing, "changed" if changed else "unchanged"


def api_token_create(
    *, name: str, user: User | None = None, source: str = "cli"
) -> tuple[ApiToken, str]:
    """A new booking-system token; the plaintext is returned once and never stored."""
    plaintext = "esb_" + new_token(24)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name,
            token_hash=keyed_hash(settings.TOKEN_HASH_KEY, plaintext),
            prefix=plaintext[:8],
            created_by=user if user is not None and user.is_authenticated else None,
        )
        audit_record(
            event=events.API_TOKEN_CREATED, user=user, object_ref=str(token), source=source
        )
    return token, plaintext


def api_token_revoke(*, token: ApiToken, user: User | None = None, source: str = "") -> None:
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                event=events.API_TOKEN_REVOKED, user=user, object_ref=str(token), source=source
            )


def api_token_authenticate(plaintext: str) -> ApiToken | None:
    """The active token with this plaintext, or None. Lookup by keyed hash (no timing leak)."""
    if not plaintext or len(plaintext) > 200:
        return None
    token = ApiToken.objects.active().filter(
        token_hash=keyed_hash(settings.TOKEN_HASH_KEY, plaintext)
    )
    found = token.first()
    if found is not None:
        token.update(last_used_at=timezone.now())
    return found
