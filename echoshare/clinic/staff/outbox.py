"""Outbox: messages that will not go out without a person, with the error and a retry."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.access import has_requirement, staff_required
from echoshare.clinic.staff.common import source, staff_user
from echoshare.notify.models import Message
from echoshare.notify.services import MessageStateError, message_mark_sent, message_retry


def _waiting() -> list[Message]:
    """Given up, outcome unknown, or failing and still retrying: newest first."""
    states = (Message.State.GAVE_UP, Message.State.UNKNOWN, Message.State.FAILED)
    return list(Message.objects.filter(state__in=states).order_by("-updated_at")[:200])


def _page(request: HttpRequest, *, status: int = 200, error: str = "") -> HttpResponse:
    context = {
        "outbox": _waiting(),
        "error": error,
        "can_retry": has_requirement(request.user, "notify.retry_message"),
    }
    return render(request, "clinic/staff/outbox.html", context, status=status)


@require_GET
@staff_required("clinic.resend_link")
def outbox(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        audit_record(
            event=events.PATIENT_VIEWED,
            user=staff_user(request),
            object_ref="outbox",
            detail="messages needing staff (recipients shown)",
            source=source(request),
        )
    return _page(request)


def _message(reference: str) -> Message:
    message = Message.objects.filter(reference=reference).first()
    if message is None:
        raise Http404
    return message


@require_POST
@staff_required("notify.retry_message")
def retry(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        message_retry(message=_message(reference), user=staff_user(request))
    except MessageStateError as exc:
        return _page(request, status=409, error=str(exc))
    messages.success(request, _("The message is queued again."))
    return HttpResponseRedirect(reverse("clinic:outbox"), status=303)


@require_POST
@staff_required("notify.retry_message")
def mark_sent(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        message_mark_sent(message=_message(reference), user=staff_user(request))
    except MessageStateError as exc:
        return _page(request, status=409, error=str(exc))
    messages.success(request, _("The message is marked as sent."))
    return HttpResponseRedirect(reverse("clinic:outbox"), status=303)
