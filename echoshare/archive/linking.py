"""Which appointment an incoming study belongs to."""

from __future__ import annotations

from datetime import date

from echoshare.clinic.models import Appointment


def appointment_for(
    *, accession_number: str, study_instance_uid: str, patient_id: str, study_date: date | None
) -> Appointment | None:
    """Match by AccessionNumber, then StudyInstanceUID, then PatientID + StudyDate.

    The last rule links only when exactly one appointment of that patient falls on that day
    (in the clinic's time zone); anything else stays unmatched for staff to link.
    """
    appointments = Appointment.objects.select_related("patient")
    if accession_number:
        found = appointments.filter(accession_number=accession_number).first()
        if found is not None:
            return found
    found = appointments.filter(study_instance_uid=study_instance_uid).first()
    if found is not None:
        return found
    if patient_id and study_date is not None:
        same_day = list(
            appointments.filter(patient__patient_id=patient_id, scheduled_at__date=study_date)[:2]
        )
        if len(same_day) == 1:
            return same_day[0]
    return None
