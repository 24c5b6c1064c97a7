"""Checking what a booking source hands us (CSV row, API body) before anything is written.

`parse_booking` turns a flat mapping of text values into a `Booking`, or raises
`BookingInvalid` with one message per field, so the CSV report and the API's 400 answer can
name each field that was refused. Phone numbers become E.164 (default region NL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

PHONE_REGION = "NL"
_TRUE = {"1", "yes", "ja", "j", "y", "true", "waar"}
_FALSE = {"", "0", "no", "nee", "n", "false", "onwaar"}
# DICOM AE titles and accession numbers: printable ASCII without backslash (PS3.5 6.2).
_DICOM_TEXT = re.compile(r"^[\x20-\x5b\x5d-\x7e]*$")
_PATIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BookingInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class PatientData:
    patient_id: str
    family_name: str
    given_name: str
    birth_date: date
    sex: str
    phone: str
    email: str
    language: str
    consent_sms: bool
    consent_email: bool


@dataclass(frozen=True)
class Booking:
    patient: PatientData
    scheduled_at: datetime
    exam_type: str
    modality: str
    station_ae_title: str
    accession_number: str  # "" = generate one


def normalize_phone(value: str) -> str:
    """E.164 ("+31612345678") from what people type ("06-1234 5678"); "" stays "".

    Raises ValueError with a message for a number that cannot be valid.
    """
    value = value.strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValueError("not a valid e-mail address") from exc
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def parse_date(value: str) -> date:
    """ISO (2025-03-14) or Dutch (14-03-2025) dates."""
    value = value.strip()
    for pattern in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError("expected a date as YYYY-MM-DD or DD-MM-YYYY")


def parse_datetime(value: str) -> datetime:
    """ISO 8601; without an offset the time is read in the clinic's time zone."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError("expected a date and time as YYYY-MM-DDTHH:MM") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    return parsed


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected yes or no")


def _text(value: str, *, max_length: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise ValueError("required")
    if len(value) > max_length:
        raise ValueError(f"longer than {max_length} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("contains control characters")
    return value


def _dicom_text(value: str, *, max_length: int) -> str:
    value = _text(value, max_length=max_length)
    if not _DICOM_TEXT.match(value):
        raise ValueError("only letters, digits and plain punctuation (no backslash)")
    return value


def _patient_id(value: str) -> str:
    value = value.strip()
    if not _PATIENT_ID.match(value):
        raise ValueError("required: 1-64 letters, digits, '.', '_' or '-'")
    return value


def _choice(value: str, choices: tuple[str, ...], default: str) -> str:
    value = value.strip()
    if not value:
        return default
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(c for c in choices if c)}")
    return value


class FieldCollector:
    """Runs each field's parser and keeps one error message per field."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def get(
        self,
        raw: Mapping[str, object],
        name: str,
        parse: Callable[[Any], Any],
        *,
        prefix: str = "",
        default: str | bool = "",
    ) -> Any:
        value = raw.get(name)
        if value is None:
            value = default
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a booking system may send IDs as numbers
        try:
            # Yes/no fields take JSON booleans or text; every other field takes text only.
            allowed = (str, bool) if isinstance(default, bool) else (str,)
            if not isinstance(value, allowed):
                raise ValueError(
                    "expected yes/no" if isinstance(default, bool) else "expected text"
                )
            return parse(value)
        except ValueError as exc:
            self.errors[prefix + name] = str(exc)
            return None


def _patient(c: FieldCollector, raw: Mapping[str, object], prefix: str) -> dict[str, Any]:
    def text(limit: int, required: bool = False) -> Callable[[str], str]:
        return lambda v: _text(v, max_length=limit, required=required)

    return {
        "patient_id": c.get(raw, "patient_id", _patient_id, prefix=prefix),
        "family_name": c.get(raw, "family_name", text(128, True), prefix=prefix),
        "given_name": c.get(raw, "given_name", text(128), prefix=prefix),
        "birth_date": c.get(raw, "birth_date", parse_date, prefix=prefix),
        "sex": c.get(raw, "sex", lambda v: _choice(v.upper(), ("F", "M", "O"), ""), prefix=prefix),
        "phone": c.get(raw, "phone", normalize_phone, prefix=prefix),
        "email": c.get(raw, "email", normalize_email, prefix=prefix),
        "language": c.get(
            raw, "language", lambda v: _choice(v.lower(), ("nl", "en"), "nl"), prefix=prefix
        ),
        "consent_sms": c.get(raw, "consent_sms", parse_bool, prefix=prefix, default=False),
        "consent_email": c.get(raw, "consent_email", parse_bool, prefix=prefix, default=False),
    }


def _appointment(c: FieldCollector, raw: Mapping[str, object]) -> dict[str, Any]:
    return {
        "exam_type": c.get(raw, "exam_type", lambda v: _text(v, max_length=128, required=True)),
        "modality": c.get(raw, "modality", lambda v: _dicom_text(v, max_length=16) or "US"),
        "station_ae_title": c.get(raw, "station_ae_title", lambda v: _dicom_text(v, max_length=16)),
        "accession_number": c.get(raw, "accession_number", lambda v: _dicom_text(v, max_length=16)),
    }


def parse_booking(
    *,
    appointment: Mapping[str, object],
    patient: Mapping[str, object],
    scheduled_at: Callable[[FieldCollector], datetime | None],
    patient_prefix: str = "",
) -> Booking:
    """A Booking from raw values, or BookingInvalid naming every refused field."""
    c = FieldCollector()
    patient_values = _patient(c, patient, patient_prefix)
    when = scheduled_at(c)
    values = _appointment(c, appointment)
    if c.errors:
        raise BookingInvalid(c.errors)
    assert when is not None
    return Booking(patient=PatientData(**patient_values), scheduled_at=when, **values)
