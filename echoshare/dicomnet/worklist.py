"""Modality Worklist: a C-FIND identifier -> a query on appointments -> response identifiers.

Kept free of pynetdicom so that it can be tested without a network. Matching (PS3.4 C.2.2.2):
- ScheduledProcedureStepStartDate: a date or range (`A`, `A-B`, `-B`, `A-`) in the clinic's
  time zone; an absent or empty date means today (a machine asking for "everything" wants
  today's list, not twenty years of appointments).
- Modality, ScheduledStationAETitle, PatientID, AccessionNumber: single value, `*` and `?`
  wildcards. An appointment without a station AE title is offered to every station.
- PatientName: per PN component (family^given), case-insensitive, with wildcards; components
  the query leaves out match anything.
Cancelled appointments are never offered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.db.models import Q
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from echoshare.clinic.models import Appointment

_DA = re.compile(r"^\d{8}$")
_SPS = "ScheduledProcedureStepSequence"
# Keys inside a Scheduled Procedure Step item that echoshare fills.
_SPS_KEYS = (
    "Modality",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID",
)


class WorklistQueryError(ValueError):
    """The identifier holds a value that cannot be matched (a malformed date)."""


@dataclass(frozen=True)
class WorklistQuery:
    date_from: date | None
    date_to: date | None
    modality: str = ""
    station_ae_title: str = ""
    patient_name: str = ""
    patient_id: str = ""
    accession_number: str = ""


def worklist_query_parse(identifier: Dataset, *, today: date) -> WorklistQuery:
    """Read the matching keys of a Modality Worklist C-FIND identifier."""
    step = _first_item(identifier.get(_SPS))
    date_from, date_to = _date_range(_text(step, "ScheduledProcedureStepStartDate"), today)
    return WorklistQuery(
        date_from=date_from,
        date_to=date_to,
        modality=_text(step, "Modality"),
        station_ae_title=_text(step, "ScheduledStationAETitle"),
        patient_name=_text(identifier, "PatientName").split("=")[0],
        patient_id=_text(identifier, "PatientID"),
        accession_number=_text(identifier, "AccessionNumber"),
    )


def worklist_filter(query: WorklistQuery, *, tz: tzinfo) -> Q:
    """The query as a filter on Appointment."""
    condition = ~Q(status=Appointment.Status.CANCELLED)
    if query.date_from is not None:
        condition &= Q(scheduled_at__gte=_start_of_day(query.date_from, tz))
    if query.date_to is not None:
        condition &= Q(scheduled_at__lt=_start_of_day(query.date_to + timedelta(days=1), tz))
    condition &= _match("modality", query.modality)
    if not _is_universal(query.station_ae_title):
        condition &= _match("station_ae_title", query.station_ae_title) | Q(station_ae_title="")
    condition &= _match("patient__patient_id", query.patient_id)
    condition &= _match("accession_number", query.accession_number)
    condition &= _name_match(query.patient_name)
    return condition


def worklist_appointments(query: WorklistQuery, *, tz: tzinfo) -> Any:
    """Matching appointments, earliest first, with their patients."""
    return (
        Appointment.objects.filter(worklist_filter(query, tz=tz))
        .select_related("patient")
        .order_by("scheduled_at", "pk")
    )


def worklist_response(appointment: Appointment, identifier: Dataset, *, tz: tzinfo) -> Dataset:
    """The response identifier: every key the query asked for, filled where echoshare knows
    it and empty where it does not (PS3.4 C.2.2.1.2)."""
    values = _appointment_values(appointment, tz)
    response = Dataset()
    response.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names like "Müller" survive
    for element in identifier:
        if element.tag.is_private or element.keyword == "SpecificCharacterSet":
            continue
        if element.keyword == _SPS:
            requested = _first_item(element.value)
            response.ScheduledProcedureStepSequence = Sequence([_step(requested, values)])
        else:
            _copy_key(response, element.keyword, element.tag, element.VR, values)
    return response


def _step(requested: Dataset, values: dict[str, str]) -> Dataset:
    step = Dataset()
    keys = [element for element in requested if not element.tag.is_private]
    if not keys:  # an empty item asks for everything a step has
        for keyword in _SPS_KEYS:
            setattr(step, keyword, values[keyword])
        return step
    for element in keys:
        _copy_key(step, element.keyword, element.tag, element.VR, values)
    return step


def _copy_key(target: Dataset, keyword: str, tag: Any, vr: str, values: dict[str, str]) -> None:
    if keyword in values:
        setattr(target, keyword, values[keyword])
    elif vr == "SQ":
        target.add_new(tag, vr, Sequence())
    else:
        target.add_new(tag, vr, None)


def _appointment_values(appointment: Appointment, tz: tzinfo) -> dict[str, str]:
    patient = appointment.patient
    local = appointment.scheduled_at.astimezone(tz)
    return {
        "PatientName": patient.dicom_name,
        "PatientID": patient.patient_id,
        "PatientBirthDate": patient.birth_date.strftime("%Y%m%d"),
        "PatientSex": patient.sex,
        "AccessionNumber": appointment.accession_number,
        "StudyInstanceUID": appointment.study_instance_uid,
        "RequestedProcedureDescription": appointment.exam_type,
        "RequestedProcedureID": appointment.accession_number,
        "Modality": appointment.modality,
        "ScheduledStationAETitle": appointment.station_ae_title,
        "ScheduledProcedureStepStartDate": local.strftime("%Y%m%d"),
        "ScheduledProcedureStepStartTime": local.strftime("%H%M%S"),
        "ScheduledProcedureStepDescription": appointment.exam_type,
        "ScheduledProcedureStepID": appointment.accession_number,
    }


def _first_item(sequence: Any) -> Dataset:
    return sequence[0] if sequence else Dataset()


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    return "" if value is None else str(value).strip()


def _date_range(text: str, today: date) -> tuple[date | None, date | None]:
    if not text:
        return today, today
    if "-" not in text:
        day = _parse_da(text)
        return day, day
    start, _, end = text.partition("-")
    date_from = _parse_da(start) if start else None
    date_to = _parse_da(end) if end else None
    if date_from is None and date_to is None:
        raise WorklistQueryError("ScheduledProcedureStepStartDate: a range needs a start or end")
    if date_from and date_to and date_from > date_to:
        raise WorklistQueryError("ScheduledProcedureStepStartDate: range ends before it starts")
    return date_from, date_to


def _parse_da(text: str) -> date:
    text = text.strip()
    if not _DA.match(text):
        raise WorklistQueryError(f"ScheduledProcedureStepStartDate: {text!r} is not YYYYMMDD")
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError as exc:
        raise WorklistQueryError(f"ScheduledProcedureStepStartDate: {text!r}: {exc}") from exc


def _start_of_day(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _is_universal(pattern: str) -> bool:
    return pattern.strip("*") == ""


def _match(field: str, pattern: str, *, ignore_case: bool = False) -> Q:
    """Single value matching with DICOM wildcards, as the cheapest lookup that does it."""
    if _is_universal(pattern):
        return Q()
    suffix = "i" if ignore_case else ""
    if "*" not in pattern and "?" not in pattern:
        return Q(**{f"{field}__{suffix}exact": pattern})
    head = pattern[:-1]
    if pattern.endswith("*") and "*" not in head and "?" not in head:
        return Q(**{f"{field}__{suffix}startswith": head})
    return Q(**{f"{field}__{suffix}regex": wildcard_regex(pattern)})


def _name_match(pattern: str) -> Q:
    if _is_universal(pattern):
        return Q()
    components = pattern.split("^")
    condition = _match("patient__family_name", components[0], ignore_case=True)
    if len(components) > 1:
        condition &= _match("patient__given_name", components[1], ignore_case=True)
    # Middle name, prefix and suffix are not stored: they are empty for every patient.
    for extra in components[2:]:
        if not re.fullmatch(wildcard_regex(extra), ""):
            return Q(pk__in=[])
    return condition


def wildcard_regex(pattern: str) -> str:
    """DICOM `*` (any run) and `?` (one character) as an anchored regular expression."""
    parts = [".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern]
    return "^" + "".join(parts) + "$"
