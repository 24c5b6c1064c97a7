"""The booking system's JSON API under /staff/api/v1/ (token auth, docs/appointments-import.md).

    POST /staff/api/v1/appointments                      create, or change by accession number
    GET  /staff/api/v1/appointments/<accession>          read one
    POST /staff/api/v1/appointments/<accession>/cancel   cancel

`Authorization: Bearer <token>`; tokens are made with `echoshare apitokens create NAME`.
Every error is a JSON body {"error": ..., "fields": {...}} with a precise 4xx status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.booking_input import (
    Booking,
    BookingInvalid,
    FieldCollector,
    parse_booking,
    parse_datetime,
)
from echoshare.clinic.models import ApiToken, Appointment
from echoshare.clinic.services import (
    BookingConflict,
    api_token_authenticate,
    appointment_status_set,
    booking_apply,
)
from echoshare.core.client_address import client_address

MAX_BODY_BYTES = 64 * 1024
ApiView = Callable[..., HttpResponse]


def _error(status: int, message: str, fields: dict[str, str] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def _appointment_json(appointment: Appointment) -> dict[str, Any]:
    return {
        "accession_number": appointment.accession_number,
        "study_instance_uid": appointment.study_instance_uid,
        "patient_id": appointment.patient.patient_id,
        "scheduled_at": timezone.localtime(appointment.scheduled_at).isoformat(),
        "exam_type": appointment.exam_type,
        "modality": appointment.modality,
        "station_ae_title": appointment.station_ae_title,
        "status": appointment.status,
    }


def _source(token: ApiToken, request: HttpRequest) -> str:
    return f"api:{token.name}@{client_address(request.META)}"


def token_required(view: ApiView) -> ApiView:
    @csrf_exempt  # no cookies: a bearer token is not sent by browsers on their own
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, plaintext = request.headers.get("Authorization", "").partition(" ")
        token = api_token_authenticate(plaintext.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            response = _error(401, "missing, unknown or revoked API token")
            response["WWW-Authenticate"] = 'Bearer realm="echoshare"'
            return response
        return view(request, token, *args, **kwargs)

    return wrapper


def _json_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    if request.content_type != "application/json":
        return _error(415, "send Content-Type: application/json")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return body


def _scheduled_at(raw: dict[str, Any]) -> Callable[[FieldCollector], datetime | None]:
    return lambda collector: collector.get(raw, "scheduled_at", parse_datetime)


def _apply(booking: Booking, source: str) -> tuple[Appointment, str]:
    """booking_apply, once more if a parallel request created the same patient or accession
    number between our check and our insert: the second try finds it and changes it."""
    try:
        return booking_apply(booking=booking, source=source)
    except IntegrityError:
        return booking_apply(booking=booking, source=source)


@token_required
def appointments(request: HttpRequest, token: ApiToken) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "use POST to create or change an appointment")
    body = _json_body(request)
    if isinstance(body, JsonResponse):
        return body
    patient = body.get("patient")
    if not isinstance(patient, dict):
        return _error(400, "invalid booking", {"patient": "required: an object"})
    try:
        booking = parse_booking(
            appointment=body,
            patient=patient,
            scheduled_at=_scheduled_at(body),
            patient_prefix="patient.",
        )
        appointment, outcome = _apply(booking, _source(token, request))
    except BookingInvalid as exc:
        return _error(400, "invalid booking", exc.errors)
    except BookingConflict as exc:
        return _error(409, str(exc))
    body = {"result": outcome, "appointment": _appointment_json(appointment)}
    return JsonResponse(body, status=201 if outcome == "created" else 200)


def _find(accession_number: str) -> Appointment | None:
    return (
        Appointment.objects.select_related("patient")
        .filter(accession_number=accession_number)
        .first()
    )


@token_required
def appointment_detail(
    request: HttpRequest, token: ApiToken, accession_number: str
) -> HttpResponse:
    if request.method != "GET":
        return _error(405, "use GET to read an appointment")
    appointment = _find(accession_number)
    if appointment is None:
        return _error(404, "no appointment with this accession number")
    with transaction.atomic():
        audit_record(
            event=events.APPOINTMENT_VIEWED,
            patient_ref=appointment.patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            source=_source(token, request),
        )
    return JsonResponse({"appointment": _appointment_json(appointment)})


@token_required
def appointment_cancel(
    request: HttpRequest, token: ApiToken, accession_number: str
) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "use POST to cancel an appointment")
    with transaction.atomic():
        appointment = _find(accession_number)
        if appointment is None:
            return _error(404, "no appointment with this accession number")
        # Decided again under the row lock (only_from): an exam's first image may arrive
        # between reading the appointment and cancelling it.
        changed = appointment_status_set(
            appointment=appointment,
            status=Appointment.Status.CANCELLED,
            source=_source(token, request),
            only_from=(Appointment.Status.BOOKED, Appointment.Status.ARRIVED),
        )
        if appointment.status == Appointment.Status.EXAMINED:
            return _error(409, "the exam has taken place; it cannot be cancelled")
    body = {"result": "cancelled" if changed else "unchanged"}
    return JsonResponse(body | {"appointment": _appointment_json(appointment)})
