"""Today: the day's appointments and their state, a date picker and a search.

The table body is also served alone (`today_rows`): the page's script fetches it every few
seconds, so states change on screen without a reload.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.access import staff_required
from echoshare.clinic.models import Appointment
from echoshare.clinic.staff.common import source, staff_user
from echoshare.clinic.staff.states import exam_state

SEARCH_LIMIT = 100


def _day(request: HttpRequest) -> date:
    try:
        return date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return timezone.localdate()


def _birth_date(text: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _search(query: str) -> Q:
    """Name (part), birth date, patient ID or accession number (exact)."""
    match = (
        Q(patient__patient_id__iexact=query)
        | Q(accession_number__iexact=query)
        | Q(patient__family_name__icontains=query)
        | Q(patient__given_name__icontains=query)
    )
    born = _birth_date(query)
    if born is not None:
        match |= Q(patient__birth_date=born)
    return match


def appointments_for(*, day: date, query: str) -> QuerySet[Appointment]:
    rows = Appointment.objects.select_related("patient").annotate(
        image_count=Count("studies__instances", distinct=True)
    )
    if query:
        rows = rows.filter(_search(query)).order_by("-scheduled_at")[:SEARCH_LIMIT]
    else:
        zone = timezone.get_current_timezone()
        start = datetime.combine(day, time.min, tzinfo=zone)
        rows = rows.filter(
            scheduled_at__gte=start, scheduled_at__lt=start + timedelta(days=1)
        ).order_by("scheduled_at")
    return rows.prefetch_related("publications", "selected_items")


def _context(request: HttpRequest) -> dict[str, object]:
    day = _day(request)
    query = request.GET.get("q", "").strip()[:100]
    rows = [(a, exam_state(a)) for a in appointments_for(day=day, query=query)]
    return {"day": day, "query": query, "rows": rows, "today": timezone.localdate()}


@require_GET
@staff_required("clinic.view_appointment")
def today(request: HttpRequest) -> HttpResponse:
    context = _context(request)
    with transaction.atomic():
        detail = f"search {context['query']!r}" if context["query"] else f"day {context['day']}"
        audit_record(
            event=events.APPOINTMENT_VIEWED,
            user=staff_user(request),
            object_ref="today list",
            detail=f"{detail}: {len(context['rows'])} appointment(s)",  # type: ignore[arg-type]
            source=source(request),
        )
    return render(request, "clinic/staff/today.html", context)


@require_GET
@staff_required("clinic.view_appointment")
def today_rows(request: HttpRequest) -> HttpResponse:
    """The table body alone, for the page's refresh (the page load itself was audited)."""
    return render(request, "clinic/staff/_today_rows.html", _context(request))
