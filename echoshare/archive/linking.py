"""Which appointment an incoming study belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from echoshare.clinic.models import Appointment, Patient

# Written out rather than built by the ORM: it runs for every new study while a sending
# machine waits for its status, and building the query took longer than running it
# (docs/performance.md, Ingest). Every term is on an indexed column of the appointment
# table (the patient by subquery, the day as a range of instants): a `__date` lookup or a
# join inside the OR made the database read every appointment, 2.3 ms per new study at
# 20,000 of them. A NULL parameter switches its rule off (NULL equals nothing).
_CANDIDATES_SQL = """
SELECT appointment.id, appointment.accession_number, appointment.study_instance_uid,
       (appointment.patient_id IN ({patients})
        AND appointment.scheduled_at >= %s AND appointment.scheduled_at < %s) AS on_day
FROM {appointments} AS appointment
WHERE appointment.accession_number = %s
   OR appointment.study_instance_uid = %s
   OR (appointment.patient_id IN ({patients})
       AND appointment.scheduled_at >= %s AND appointment.scheduled_at < %s)
"""
_PATIENTS_SQL = "SELECT id FROM {patients} WHERE patient_id = %s"


def appointment_for(
    *, accession_number: str, study_instance_uid: str, patient_id: str, study_date: date | None
) -> Appointment | None:
    """Match by AccessionNumber, then StudyInstanceUID, then PatientID + StudyDate.

    The last rule links only when exactly one appointment of that patient falls on that day
    (in the clinic's time zone); anything else stays unmatched for staff to link.
    One query fetches the candidates of all three rules (accession number and study UID are
    unique, a patient has a handful of appointments on one day); the rules pick in order.
    """
    by_day = bool(patient_id) and study_date is not None
    first, after = _day_bounds(study_date) if by_day and study_date else (None, None)
    rows = _candidates(
        accession_number=accession_number or None,
        study_instance_uid=study_instance_uid or None,
        patient_id=patient_id if by_day else None,
        first=first,
        after=after,
    )
    chosen = _pick(rows, accession_number, study_instance_uid)
    return Appointment.objects.select_related("patient").get(pk=chosen) if chosen else None


def _candidates(
    *,
    accession_number: str | None,
    study_instance_uid: str | None,
    patient_id: str | None,
    first: datetime | None,
    after: datetime | None,
) -> list[Sequence[Any]]:
    ops = connection.ops
    patients = _PATIENTS_SQL.format(patients=ops.quote_name(Patient._meta.db_table))
    sql = _CANDIDATES_SQL.format(
        patients=patients, appointments=ops.quote_name(Appointment._meta.db_table)
    )
    first_value = ops.adapt_datetimefield_value(first)
    after_value = ops.adapt_datetimefield_value(after)
    day = [patient_id, first_value, after_value]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*day, accession_number, study_instance_uid, *day])
        return list(cursor.fetchall())


def _pick(rows: list[Sequence[Any]], accession_number: str, study_instance_uid: str) -> int | None:
    """The rules in order: accession number, study UID, the patient's only exam that day."""
    if accession_number:
        for pk, accession, _uid, _on_day in rows:
            if accession == accession_number:
                return int(pk)
    for pk, _accession, uid, _on_day in rows:
        if uid == study_instance_uid:
            return int(pk)
    on_that_day = [int(pk) for pk, _accession, _uid, on_day in rows if on_day]
    return on_that_day[0] if len(on_that_day) == 1 else None


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of `day` and of the day after, in the clinic's time zone."""
    zone = timezone.get_current_timezone()
    first = datetime.combine(day, time.min, tzinfo=zone)
    return first, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
