"""Importing appointments from a CSV file (docs/appointments-import.md).

Each row is all-or-nothing: its patient and its appointment are written in one transaction,
or nothing of the row is. Rows are independent: a refused row does not stop the others. A
problem with the file itself (encoding, unknown or missing columns) refuses the whole file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from echoshare.audit import events
from echoshare.clinic.booking_input import (
    Booking,
    BookingInvalid,
    FieldCollector,
    parse_booking,
    parse_date,
)
from echoshare.clinic.models import Appointment, Patient
from echoshare.clinic.services import appointment_create, patient_upsert

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REQUIRED_COLUMNS = ("patient_id", "family_name", "birth_date", "date", "time", "exam_type")
OPTIONAL_COLUMNS = (
    "given_name",
    "sex",
    "phone",
    "email",
    "language",
    "consent_sms",
    "consent_email",
    "modality",
    "station_ae_title",
    "accession_number",
)
MAX_FILE_BYTES = 20 * 1024 * 1024

IMPORTED, DUPLICATE, REFUSED = "imported", "duplicate", "refused"


class ImportFileError(Exception):
    """The file as a whole cannot be read; nothing was imported."""


@dataclass
class RowResult:
    row: int  # 1 is the header: the numbers a spreadsheet shows
    outcome: str
    accession_number: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    rows: list[RowResult] = field(default_factory=list)
    dry_run: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)


def _decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet programs on Windows save "CSV" as Windows-1252.
        return data.decode("cp1252", errors="strict")


def _reader(text: str) -> tuple[list[str], Any]:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if unknown:
        problems.append("unknown columns: " + ", ".join(unknown))
    if duplicated:
        problems.append("columns given twice: " + ", ".join(duplicated))
    if problems:
        raise ImportFileError("; ".join(problems))
    return header, reader


def _scheduled_at(values: dict[str, str]) -> Callable[[FieldCollector], datetime | None]:
    def parse(collector: FieldCollector) -> datetime | None:
        day = collector.get(values, "date", parse_date)
        clock = collector.get(values, "time", _parse_time)
        if day is None or clock is None:
            return None
        return datetime.combine(day, clock, tzinfo=ZoneInfo(settings.TIME_ZONE))

    return parse


def _parse_time(value: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("expected a time as HH:MM") from None


def _identity_conflict(booking: Booking) -> dict[str, str]:
    """A known patient ID with another name or birth date is most likely a typo: refuse it."""
    stored = Patient.objects.filter(patient_id=booking.patient.patient_id).first()
    if stored is None:
        return {}
    if (stored.family_name, stored.birth_date) != (
        booking.patient.family_name,
        booking.patient.birth_date,
    ):
        return {"patient_id": "belongs to a patient with another family name or birth date"}
    return {}


def _import_row(booking: Booking, *, dry_run: bool, user: User | None, source: str) -> str:
    """Write one row's patient and appointment together; returns the accession number."""
    with transaction.atomic():
        patient, _ = patient_upsert(data=booking.patient, user=user, source=source)
        appointment = appointment_create(
            patient=patient,
            scheduled_at=booking.scheduled_at,
            exam_type=booking.exam_type,
            modality=booking.modality,
            station_ae_title=booking.station_ae_title,
            accession_number=booking.accession_number,
            user=user,
            source=source,
            audit_event=events.APPOINTMENT_IMPORTED,
        )
        if dry_run:
            transaction.set_rollback(True)
    return appointment.accession_number


def _row(
    number: int,
    header: list[str],
    cells: list[str],
    seen: dict[str, int],
    *,
    dry_run: bool,
    user: User | None,
    source: str,
) -> RowResult:
    if len(cells) != len(header):
        message = f"has {len(cells)} fields, the header has {len(header)}"
        return RowResult(number, REFUSED, errors={"row": message})
    values = dict(zip(header, cells, strict=True))
    accession = values.get("accession_number", "").strip()
    try:
        booking = parse_booking(
            appointment=values, patient=values, scheduled_at=_scheduled_at(values)
        )
    except BookingInvalid as exc:
        return RowResult(number, REFUSED, accession, exc.errors)
    if accession and accession in seen:
        message = f"accession number also in row {seen[accession]}"
        return RowResult(number, DUPLICATE, accession, {"accession_number": message})
    if accession and Appointment.objects.filter(accession_number=accession).exists():
        message = "accession number already booked; row skipped"
        return RowResult(number, DUPLICATE, accession, {"accession_number": message})
    conflict = _identity_conflict(booking)
    if conflict:
        return RowResult(number, REFUSED, accession, conflict)
    booked = _import_row(booking, dry_run=dry_run, user=user, source=source)
    if accession:
        seen[accession] = number
    return RowResult(number, IMPORTED, booked)


def appointments_import(
    *, data: bytes, dry_run: bool = False, user: User | None = None, source: str = "cli"
) -> ImportReport:
    """Import the CSV `data`; the report has one entry per data row."""
    header, reader = _reader(_decode(data))
    report = ImportReport(dry_run=dry_run)
    seen: dict[str, int] = {}
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines at the end of spreadsheet exports
            result = _row(number, header, cells, seen, dry_run=dry_run, user=user, source=source)
            report.rows.append(result)
    except csv.Error as exc:
        raise ImportFileError(f"not a readable CSV file: {exc}") from exc
    return report
