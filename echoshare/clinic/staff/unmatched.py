"""Unmatched: studies whose images matched no appointment, for staff to assign by hand."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from echoshare.archive.models import Study
from echoshare.archive.services import study_link
from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.access import has_requirement, staff_required
from echoshare.clinic.models import Appointment
from echoshare.clinic.staff.common import source, staff_user
from echoshare.clinic.staff.forms import AssignForm


def _page(request: HttpRequest, *, status: int = 200, error: str = "") -> HttpResponse:
    studies = (
        Study.objects.unmatched().annotate(images=Count("instances")).order_by("-last_received_at")
    )
    context = {
        "studies": studies,
        "error": error,
        "can_assign": has_requirement(request.user, "clinic.select_images"),
    }
    return render(request, "clinic/staff/unmatched.html", context, status=status)


@require_GET
@staff_required("clinic.view_study")
def unmatched(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        audit_record(
            event=events.STUDY_VIEWED,
            user=staff_user(request),
            object_ref="unmatched studies",
            detail=f"{Study.objects.unmatched().count()} unmatched",
            source=source(request),
        )
    return _page(request)


@require_POST
@staff_required("clinic.select_images")
def assign(request: HttpRequest, study_key: str) -> HttpResponse:
    study = Study.objects.unmatched().filter(key=study_key).first()
    if study is None:
        raise Http404  # unknown, or already assigned (by someone else meanwhile)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, error=_("Give the accession number of the exam."))
    number = form.cleaned_data["accession_number"].strip()
    appointment = Appointment.objects.filter(accession_number__iexact=number).first()
    if appointment is None:
        message = _("No appointment has accession number %(number)s.") % {"number": number}
        return _page(request, status=404, error=message)
    study_link(study=study, appointment=appointment, user=staff_user(request))
    messages.success(
        request, _("Assigned to %(number)s.") % {"number": appointment.accession_number}
    )
    return HttpResponseRedirect(reverse("clinic:unmatched"), status=303)
