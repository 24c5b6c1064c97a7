"""What staff do on the Exam page: change the selection, crop, hold, send, and manage a share.

Each action checks its own permission (front desk may resend, never change a selection), calls
one service of clinic.selection / clinic.publishing, and goes back to the Exam page (303).
Refusals show the page again with the reason and a 4xx status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from echoshare.clinic import publishing
from echoshare.clinic.access import staff_required
from echoshare.clinic.models import Appointment, Publication, SelectedItem
from echoshare.clinic.selection import (
    SelectionError,
    selected_item_crop_set,
    selected_item_frame_set,
    selection_set,
)
from echoshare.clinic.staff.common import exam_or_404, staff_user
from echoshare.clinic.staff.exam import exam_page
from echoshare.clinic.staff.forms import (
    CropForm,
    ExtendForm,
    FrameForm,
    HoldForm,
    selection_from_post,
)

# What the services raise when an action cannot be done now: shown to staff, never a 500.
REFUSALS: tuple[type[Exception], ...] = (
    SelectionError,
    publishing.PublishBlocked,
    publishing.ShareActionError,
    ValueError,
)


def _back(appointment: Appointment) -> HttpResponse:
    return HttpResponseRedirect(
        reverse("clinic:exam", args=[appointment.accession_number]), status=303
    )


def _run(
    request: HttpRequest, appointment: Appointment, action: Callable[[], Any], done: str
) -> HttpResponse:
    try:
        action()
    except REFUSALS as exc:
        return exam_page(request, appointment, status=409, error=_refusal_text(exc))
    messages.success(request, done)
    return _back(appointment)


def _refusal_text(exc: Exception) -> str:
    reasons = getattr(exc, "reasons", None)
    if reasons:
        return " ".join(str(reason) for reason in reasons)
    return str(exc)


def _invalid(request: HttpRequest, appointment: Appointment, form: Any) -> HttpResponse:
    text = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    return exam_page(request, appointment, status=400, error=text or _("Invalid input."))


def _item(appointment: Appointment, instance_key: str) -> SelectedItem:
    item = (
        SelectedItem.objects.filter(appointment=appointment)
        .filter(Q(instance__key=instance_key) | Q(media__key=instance_key))
        .select_related("instance", "media", "appointment__patient")
        .first()
    )
    if item is None:
        raise Http404
    return item


def _publication(appointment: Appointment, key: str) -> Publication:
    publication = Publication.objects.filter(appointment=appointment, key=key).first()
    if publication is None:
        raise Http404
    return publication


@require_POST
@staff_required("clinic.select_images")
def selection(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    try:
        keys = selection_from_post(request.POST)
    except ValueError:
        return exam_page(request, appointment, status=400, error=_("The order must be a number."))
    return _run(
        request,
        appointment,
        lambda: selection_set(
            appointment=appointment, instance_keys=keys, user=staff_user(request)
        ),
        _("Selection saved."),
    )


@require_POST
@staff_required("clinic.select_images")
def item_frame(request: HttpRequest, accession_number: str, instance_key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    item = _item(appointment, instance_key)
    form = FrameForm(request.POST)
    if not form.is_valid():
        return _invalid(request, appointment, form)
    frame = form.cleaned_data["frame"]
    return _run(
        request,
        appointment,
        lambda: selected_item_frame_set(item=item, frame=frame, user=staff_user(request)),
        _("Poster frame saved."),
    )


@require_POST
@staff_required("clinic.select_images")
def item_crop(request: HttpRequest, accession_number: str, instance_key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    item = _item(appointment, instance_key)
    form = CropForm(request.POST)
    if not form.is_valid():
        return _invalid(request, appointment, form)
    return _run(
        request,
        appointment,
        lambda: selected_item_crop_set(
            item=item,
            crop=form.crop(),
            user=staff_user(request),
            save_as_rule=form.cleaned_data["save_as_rule"],
        ),
        _("Crop box saved."),
    )


@require_POST
@staff_required("clinic.publish_share")
def hold(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    form = HoldForm(request.POST)
    form.is_valid()  # a missing box is "release"
    on_hold = bool(form.cleaned_data.get("on_hold"))
    return _run(
        request,
        appointment,
        lambda: publishing.appointment_hold_set(
            appointment=appointment, on_hold=on_hold, user=staff_user(request)
        ),
        _("On hold: nothing is sent.") if on_hold else _("Released."),
    )


@require_POST
@staff_required("clinic.publish_share")
def send(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    return _run(
        request,
        appointment,
        lambda: publishing.share_publish(appointment=appointment, user=staff_user(request)),
        _("Sending to the patient."),
    )


@require_POST
@staff_required("clinic.publish_share")
def republish(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    return _run(
        request,
        appointment,
        lambda: publishing.share_republish(appointment=appointment, user=staff_user(request)),
        _("A new share is being sent."),
    )


@require_POST
@staff_required("clinic.resend_link")
def password_resend(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    return _run(
        request,
        appointment,
        lambda: publishing.password_resend(appointment=appointment, user=staff_user(request)),
        _("The password is sent again."),
    )


@require_POST
@staff_required("clinic.resend_link")
def password_slip(request: HttpRequest, accession_number: str) -> HttpResponse:
    """A printable password slip, for a patient without e-mail (the service audits it)."""
    appointment = exam_or_404(accession_number)
    try:
        text = publishing.password_slip(appointment=appointment, user=staff_user(request))
    except REFUSALS as exc:
        return exam_page(request, appointment, status=409, error=_refusal_text(exc))
    response = render(
        request, "clinic/staff/password_slip.html", {"appointment": appointment, "text": text}
    )
    response["Cache-Control"] = "no-store"  # the slip holds the password
    return response


@require_POST
@staff_required("clinic.resend_link")
def contact_confirm(request: HttpRequest, accession_number: str) -> HttpResponse:
    """At arrival the front desk confirms (or corrects) the phone number and e-mail address."""
    appointment = exam_or_404(accession_number)
    return _run(
        request,
        appointment,
        lambda: publishing.contact_confirm(
            appointment=appointment,
            phone=request.POST.get("phone", "").strip(),
            email=request.POST.get("email", "").strip(),
            user=staff_user(request),
        ),
        _("The contact details are confirmed."),
    )


@require_POST
@staff_required("clinic.resend_link")
def share_resend(request: HttpRequest, accession_number: str, key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    publication = _publication(appointment, key)
    return _run(
        request,
        appointment,
        lambda: publishing.share_resend(publication=publication, user=staff_user(request)),
        _("The link is sent again."),
    )


@require_POST
@staff_required("clinic.resend_link")
def share_lock_reset(request: HttpRequest, accession_number: str, key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    publication = _publication(appointment, key)
    return _run(
        request,
        appointment,
        lambda: publishing.share_lock_reset(publication=publication, user=staff_user(request)),
        _("The password lock is reset."),
    )


@require_POST
@staff_required("clinic.publish_share")
def share_extend(request: HttpRequest, accession_number: str, key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    publication = _publication(appointment, key)
    form = ExtendForm(request.POST)
    if not form.is_valid():
        return _invalid(request, appointment, form)
    until = form.cleaned_data["until"]
    return _run(
        request,
        appointment,
        lambda: publishing.share_extend(
            publication=publication, until=until, user=staff_user(request)
        ),
        _("The share is extended."),
    )


@require_POST
@staff_required("clinic.publish_share")
def share_revoke(request: HttpRequest, accession_number: str, key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    publication = _publication(appointment, key)
    return _run(
        request,
        appointment,
        lambda: publishing.share_revoke(publication=publication, user=staff_user(request)),
        _("The share is revoked: the link no longer works."),
    )
