"""System status (administrators): every monitored condition now, and recent incidents."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from echoshare.clinic.access import staff_required
from echoshare.clinic.monitoring import condition_label, conditions_check
from echoshare.clinic.roles import ADMINISTRATOR
from echoshare.clinic.staff.models import Incident


@never_cache
@require_GET
@staff_required(ADMINISTRATOR)
def system_status(request: HttpRequest) -> HttpResponse:
    checks = conditions_check()
    incidents = [(i, condition_label(i.condition)) for i in Incident.objects.all()[:50]]
    context = {
        "checks": checks,
        "all_ok": not any(check.bad for check in checks),
        "incidents": incidents,
    }
    return render(request, "clinic/staff/status.html", context)
