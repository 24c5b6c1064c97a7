"""Audit: the audit log, filtered by event, patient, staff member and dates. Every look at it
is itself an audit record (NEN 7513)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_record
from echoshare.clinic.access import staff_required
from echoshare.clinic.staff.common import source, staff_user
from echoshare.clinic.staff.forms import AuditFilterForm

PAGE_SIZE = 100


def _filtered(form: AuditFilterForm) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.order_by("-seq")
    if not form.is_valid():
        return records.none()
    data = form.cleaned_data
    if data["event"]:
        records = records.filter(event__startswith=data["event"])
    if data["patient_ref"]:
        records = records.filter(patient_ref=data["patient_ref"])
    if data["username"]:
        records = records.filter(username=data["username"])
    zone = timezone.get_current_timezone()
    if data["since"]:
        records = records.filter(at__gte=datetime.combine(data["since"], time.min, tzinfo=zone))
    if data["until"]:
        end = datetime.combine(data["until"], time.min, tzinfo=zone) + timedelta(days=1)
        records = records.filter(at__lt=end)
    return records


@require_GET
@staff_required("audit.view_auditrecord")
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    records = _filtered(form) if request.GET else AuditRecord.objects.order_by("-seq")
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = {k: v for k, v in request.GET.items() if k != "page" and v}
    with transaction.atomic():
        # Recorded before the page is shown: the viewer sees their own look in the log.
        audit_record(
            event=events.AUDIT_VIEWED,
            user=staff_user(request),
            patient_ref=str(filters.get("patient_ref", ""))[:64],
            object_ref="audit log",
            detail=f"filters {sorted(filters.items())}, page {page.number}",
            source=source(request),
        )
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    context = {"form": form, "page": page, "query": query, "events": sorted(events.ALL_EVENTS)}
    return render(request, "clinic/staff/audit.html", context)
