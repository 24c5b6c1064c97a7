"""Small helpers every staff page uses: the exam behind a URL, the audit source."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest

from echoshare.clinic.access import audit_source
from echoshare.clinic.models import Appointment


def source(request: HttpRequest) -> str:
    return audit_source(request)


def staff_user(request: HttpRequest) -> User:
    """The logged-in staff member (every view is behind `staff_required`)."""
    return cast(User, request.user)


def exam_or_404(accession_number: str) -> Appointment:
    """The appointment (exam) of a staff URL; 404 for anything else."""
    appointment = (
        Appointment.objects.select_related("patient")
        .filter(accession_number=accession_number)
        .first()
    )
    if appointment is None:
        raise Http404
    return appointment
