"""Exam: the archived images of one appointment, the patient's picks, and the share's history.

Nothing heavy is decoded or encoded in these requests (H3): thumbnails, previews of large
frames and patient views are made by jobs, and the page shows a placeholder until then
(item_views.py, thumbnails.py).

Exported JPEG/PNG/MP4 uploaded onto the exam are shown after the DICOM images, with the same
tick, order, preview and crop; images are addressed by their random key either way.

Actions (POST) are in exam_actions.py; this module shows the page and the images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import escape
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from echoshare.archive.models import Instance
from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.access import has_requirement, staff_required
from echoshare.clinic.models import Appointment, ExportedMedia, Publication, SelectedItem
from echoshare.clinic.publishing import publish_blockers
from echoshare.clinic.selection import (
    SelectionError,
    item_ref,
    selected_item_mask,
    selected_item_preview,
    selection_items,
)
from echoshare.clinic.staff.common import exam_or_404, source, staff_user
from echoshare.clinic.staff.item_views import (
    PATIENT,
    PREVIEW,
    Target,
    is_made,
    item_source,
    item_target,
    job_wanted,
    made,
    refused_reason,
)
from echoshare.clinic.staff.states import exam_state
from echoshare.clinic.staff.tasks import make_item_view, make_thumbnail
from echoshare.clinic.staff.thumbnails import (
    media_refused_marker,
    media_thumbnail_path,
    media_thumbnail_wanted,
    refused_marker,
    thumbnail_path,
    thumbnail_wanted,
)
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.models import DeviceRule
from echoshare.imaging.render import DeviceRuleSpec
from echoshare.notify.models import Message

PERMISSIONS = {
    "can_see_images": "clinic.view_study",
    "can_select": "clinic.select_images",
    "can_publish": "clinic.publish_share",
    "can_resend": "clinic.resend_link",
    "can_upload": "clinic.upload_dicom",
}


@dataclass(frozen=True)
class Tile:
    """One image on the page (archived DICOM or uploaded media): its thumbnail state and the
    patient's pick."""

    instance: Instance | None
    thumbnail: str  # "ready", "pending" or "refused"
    item: SelectedItem | None
    position: int | None  # 1-based order in the patient's selection
    media: ExportedMedia | None = None

    @property
    def key(self) -> str:
        return self.media.key if self.media is not None else self.instance.key  # type: ignore[union-attr]

    @property
    def frames(self) -> int:
        return self.instance.number_of_frames if self.instance is not None else 0


@dataclass(frozen=True)
class ShareHistory:
    publication: Publication
    messages: list[Message]


def _tiles(appointment: Appointment, items: list[SelectedItem]) -> list[Tile]:
    by_instance = {item.instance_id: (n, item) for n, item in enumerate(items, start=1)}
    tiles = []
    missing: list[str] = []
    instances = Instance.objects.filter(study__appointment=appointment).prefetch_related("files")
    for instance in instances.order_by("id"):  # in order of arrival, as the machine sent them
        files = sorted(instance.files.all(), key=lambda f: f.version)
        state = "refused"
        if files:
            if thumbnail_path(files[-1]).exists():
                state = "ready"
            elif not refused_marker(files[-1]).exists():
                state = "pending"
                if thumbnail_wanted(files[-1]):
                    missing.append(instance.key)
        position, item = by_instance.get(instance.pk, (None, None))
        tiles.append(Tile(instance=instance, thumbnail=state, item=item, position=position))
    for key in missing:
        transaction.on_commit(lambda key=key: make_thumbnail.enqueue(instance_key=key))  # type: ignore[misc]
    return tiles + _media_tiles(appointment, items)


def _media_tiles(appointment: Appointment, items: list[SelectedItem]) -> list[Tile]:
    by_media = {item.media_id: (n, item) for n, item in enumerate(items, start=1)}
    tiles = []
    for media in ExportedMedia.objects.filter(appointment=appointment).order_by("id"):
        position, item = by_media.get(media.pk, (None, None))
        # Made on upload; if the data folder lost it, its request queues the job again.
        tiles.append(
            Tile(instance=None, media=media, thumbnail="ready", item=item, position=position)
        )
    return tiles


def _history(appointment: Appointment) -> list[ShareHistory]:
    history = []
    for publication in appointment.publications.order_by("-created_at"):
        messages = Message.objects.filter(
            idempotency_key__startswith=f"publication:{publication.key}:"
        ).order_by("created_at")
        history.append(ShareHistory(publication=publication, messages=list(messages)))
    return history


def _pending_views(item: SelectedItem, rules: list[DeviceRuleSpec]) -> list[str]:
    """The views of the item that a job has still to make (the page shows placeholders)."""
    try:
        source = item_source(item, rules=rules)
    except ImageRefused:
        return []  # the image requests answer why (422)
    pending = []
    for view in (PREVIEW, PATIENT):
        target = item_target(source, view)
        if view == PATIENT and source.mask.branch == "needs_review":
            continue  # no patient view until a crop is set
        if target.cheap or is_made(target) or refused_reason(target) is not None:
            continue
        pending.append(view)
    return pending


def _mark_pending_views(items: list[SelectedItem]) -> None:
    rules = DeviceRule.objects.specs()
    for item in items:
        # A page-only attribute read by the template (`item.pending_views`).
        setattr(item, "pending_views", _pending_views(item, rules))  # noqa: B010


def exam_context(request: HttpRequest, appointment: Appointment) -> dict[str, Any]:
    allowed = {name: has_requirement(request.user, perm) for name, perm in PERMISSIONS.items()}
    context: dict[str, Any] = {
        "appointment": appointment,
        "patient": appointment.patient,
        "history": _history(appointment),
        "other_messages": Message.objects.filter(patient_ref=appointment.patient.patient_id)
        .exclude(idempotency_key__startswith="publication:")
        .order_by("-created_at")[:20],
        **allowed,
    }
    if allowed["can_see_images"]:
        items = selection_items(appointment=appointment)
        for item in items:
            selected_item_mask(item=item)  # header only: marks items that need review
        _mark_pending_views(items)
        context["items"] = items
        context["tiles"] = _tiles(appointment, items)
        context["blockers"] = publish_blockers(appointment=appointment)
    context["state"] = exam_state(appointment)  # after the masks: "needs review" is current
    return context


def exam_page(
    request: HttpRequest, appointment: Appointment, *, status: int = 200, error: str = ""
) -> HttpResponse:
    context = exam_context(request, appointment)
    context["error"] = error
    return render(request, "clinic/staff/exam.html", context, status=status)


@require_GET
@staff_required("clinic.view_appointment")
def exam(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    sees_images = has_requirement(request.user, "clinic.view_study")
    with transaction.atomic():
        audit_record(
            event=events.STUDY_VIEWED if sees_images else events.APPOINTMENT_VIEWED,
            user=staff_user(request),
            patient_ref=appointment.patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            detail="exam page",
            source=source(request),
        )
    return exam_page(request, appointment)


def _instance_of(appointment: Appointment, instance_key: str) -> Instance:
    # Only an image of this exam: a key of another exam's image is a 404, never its image.
    instance = Instance.objects.filter(key=instance_key, study__appointment=appointment).first()
    if instance is None:
        raise Http404
    return instance


@never_cache
@require_GET
@staff_required("clinic.view_study")
def thumbnail(request: HttpRequest, accession_number: str, instance_key: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    media = ExportedMedia.objects.filter(key=instance_key, appointment=appointment).first()
    if media is not None:
        return _media_thumbnail(media)
    instance = _instance_of(appointment, instance_key)
    file = instance.current_file()
    jpeg = _read(thumbnail_path(file)) if file is not None else None
    if jpeg is None:
        raise Http404
    return HttpResponse(jpeg, content_type="image/jpeg")


def _media_thumbnail(media: ExportedMedia) -> HttpResponse:
    """An upload's thumbnail is made on upload. If the data folder lost it, the job makes it
    again (H3: decoding a full-HD upload takes ~100 ms), queued once (reloads within minutes
    queue no more), and the <img> shows the placeholder until a reload."""
    jpeg = _read(media_thumbnail_path(media))
    if jpeg is not None:
        return HttpResponse(jpeg, content_type="image/jpeg")
    if media_refused_marker(media).exists():
        raise Http404  # undecodable, as for an archived image
    if media_thumbnail_wanted(media):
        key = media.key
        transaction.on_commit(lambda: make_thumbnail.enqueue(instance_key=key))
    return _placeholder("thumbnail")


def _read(path: Path) -> bytes | None:
    # A thumbnail is a few KB: read whole rather than streamed. Reading without looking first:
    # a purge may remove it at any moment, and that is a 404 or a new job, never a 500.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _selected(appointment: Appointment, instance_key: str) -> SelectedItem:
    item = (
        SelectedItem.objects.filter(appointment=appointment)
        .filter(Q(instance__key=instance_key) | Q(media__key=instance_key))
        .select_related("instance", "media", "appointment__patient")
        .first()
    )
    if item is None:
        raise Http404
    return item


def _placeholder(view: str) -> HttpResponse:
    """202 and a grey image saying the view is being made: an <img> shows it, the page's
    script swaps in the real one when views.json lists it (without script: a reload)."""
    text = escape(gettext("Being prepared… it appears shortly"))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
        '<rect width="320" height="240" fill="#e8e8e8"/>'
        '<text x="160" y="125" text-anchor="middle" font-family="sans-serif" font-size="14"'
        f' fill="#333">{text}</text></svg>'
    )
    response = HttpResponse(svg, status=202, content_type="image/svg+xml; charset=utf-8")
    response["Retry-After"] = "3"
    response["X-Echoshare-Pending"] = view
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _not_made_yet(item: SelectedItem, target: Target) -> HttpResponse:
    """422 with the reason if the job found the image undecodable; otherwise queue the job
    (once: reloads within minutes queue no more) and answer the placeholder."""
    reason = refused_reason(target)
    if reason is not None:
        return HttpResponse(reason, status=422, content_type="text/plain; charset=utf-8")
    if job_wanted(target):
        item_id, view = item.pk, target.view
        transaction.on_commit(lambda: make_item_view.enqueue(item_id=item_id, view=view))
    return _placeholder(target.view)


def _item_target(item: SelectedItem, view: str) -> Target | HttpResponse:
    try:
        return item_target(item_source(item), view)
    except ImageRefused as exc:  # damaged header, or a crop or frame outside the image
        return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")


def _audit_view(request: HttpRequest, item: SelectedItem, detail: str) -> None:
    with transaction.atomic():
        audit_record(
            event=events.PREVIEW_VIEWED,
            user=staff_user(request),
            patient_ref=item.appointment.patient.patient_id,
            object_ref=item_ref(item),
            detail=detail,
            source=source(request),
        )


@never_cache
@require_GET
@staff_required("clinic.view_study")
def preview(request: HttpRequest, accession_number: str, instance_key: str) -> HttpResponse:
    """The staff preview of a picked item: the frame with what the patient gets outlined.
    Made here only for a small frame (item_views.SYNC_PREVIEW_PIXELS), else by the job."""
    appointment = exam_or_404(accession_number)
    item = _selected(appointment, instance_key)
    target = _item_target(item, PREVIEW)
    if isinstance(target, HttpResponse):
        return target
    if target.cheap:
        try:
            with transaction.atomic():
                result = selected_item_preview(item=item, user=staff_user(request))
        except SelectionError as exc:
            return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")
        jpeg, branch = result.jpeg, result.branch
    else:
        made_jpeg = made(target)
        if made_jpeg is None:
            return _not_made_yet(item, target)
        selected_item_mask(item=item)  # records the branch, as the preview in the request does
        _audit_view(request, item, "")
        jpeg, branch = made_jpeg, target.source.mask.branch
    response = HttpResponse(jpeg, content_type="image/jpeg")
    response["X-Echoshare-Branch"] = branch
    return response


@never_cache
@require_GET
@staff_required("clinic.view_study")
def patient_view(request: HttpRequest, accession_number: str, instance_key: str) -> HttpResponse:
    """The still the patient will get (masked), as the job rendered it for publishing; 409
    while the item needs review, a placeholder (202) until the job ran."""
    appointment = exam_or_404(accession_number)
    item = _selected(appointment, instance_key)
    mask = selected_item_mask(item=item)
    if mask.branch == "needs_review":
        return HttpResponse(mask.note, status=409, content_type="text/plain; charset=utf-8")
    target = _item_target(item, PATIENT)
    if isinstance(target, HttpResponse):
        return target
    jpeg = made(target)
    if jpeg is None:
        return _not_made_yet(item, target)
    _audit_view(request, item, "as the patient gets it")
    return HttpResponse(jpeg, content_type="image/jpeg")


@never_cache
@require_GET
@staff_required("clinic.view_study")
def views_state(request: HttpRequest, accession_number: str) -> HttpResponse:
    """Which previews and patient views the job has made, or found undecodable
    ("<key>/<view>"): the page's script loads them again instead of the placeholder."""
    appointment = exam_or_404(accession_number)
    rules = DeviceRule.objects.specs()
    ready, refused = [], []
    items = SelectedItem.objects.filter(appointment=appointment).select_related("instance", "media")
    for item in items:
        try:
            source = item_source(item, rules=rules)
        except ImageRefused:
            continue
        for view in (PREVIEW, PATIENT):
            target = item_target(source, view)
            if is_made(target):
                ready.append(f"{item.key}/{view}")
            elif refused_reason(target) is not None:
                refused.append(f"{item.key}/{view}")
    return JsonResponse({"ready": ready, "refused": refused})


@never_cache
@require_GET
@staff_required("clinic.view_study")
def thumbnails_state(request: HttpRequest, accession_number: str) -> HttpResponse:
    """Which thumbnails are ready now (the page's script swaps placeholders for them)."""
    appointment = exam_or_404(accession_number)
    ready = []
    for instance in Instance.objects.filter(study__appointment=appointment):
        file = instance.current_file()
        if file is not None and thumbnail_path(file).exists():
            ready.append(instance.key)
    return JsonResponse({"ready": ready})


@never_cache
@require_GET
@staff_required("clinic.view_appointment")
def state(request: HttpRequest, accession_number: str) -> HttpResponse:
    """The exam's state now (the page's script refreshes the badge with it)."""
    current = exam_state(exam_or_404(accession_number))
    return JsonResponse({"code": current.code, "label": current.label})
