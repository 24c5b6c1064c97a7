"""Which archived images a patient gets, in which order, with which poster frame and crop.

`Instance.selected_for_patient` says "ticked" (set by the patient AE title or by staff);
`SelectedItem` keeps the order and the staff settings of each ticked instance. Reading the
selection brings the two in line, so images that arrived on the patient AE since are in it.

Exported JPEG/PNG/MP4 staff uploaded (`ExportedMedia`) are items too: a `SelectedItem` with
`media` instead of `instance`. They have no "ticked" flag (the item is the tick) and always
need a staff crop (they carry no image regions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from echoshare.archive.models import Instance
from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.exported_media import media_path, staff_mask
from echoshare.clinic.models import Appointment, ExportedMedia, SelectedItem
from echoshare.imaging.config import render_settings
from echoshare.imaging.decode import read_header
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Mask, Rect
from echoshare.imaging.models import DeviceRule
from echoshare.imaging.preview import Preview, preview_item, preview_upload
from echoshare.imaging.render import decide_mask
from echoshare.imaging.services import device_rule_from_crop

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class SelectionError(ValueError):
    """A selection change that cannot be made (an instance of another exam, a bad frame)."""


@dataclass(frozen=True)
class PreviewResult:
    jpeg: bytes  # the unmasked frame with the mask drawn on it: for staff only
    branch: str  # "regions", "device_rule", "staff_crop" or "needs_review"
    reason: str
    columns: int
    rows: int
    frame: int


def _ticked(appointment: Appointment) -> list[Instance]:
    # New items join in the order they arrived: the order the sonographer stored them.
    return list(
        Instance.objects.filter(study__appointment=appointment, selected_for_patient=True).order_by(
            "created_at", "id"
        )
    )


def _sync(appointment: Appointment) -> None:
    ticked = _ticked(appointment)
    ids = {instance.pk for instance in ticked}
    SelectedItem.objects.filter(appointment=appointment, media__isnull=True).exclude(
        instance_id__in=ids
    ).delete()
    have = set(
        SelectedItem.objects.filter(appointment=appointment).values_list("instance_id", flat=True)
    )
    last = SelectedItem.objects.filter(appointment=appointment).count()
    for instance in ticked:
        if instance.pk not in have:
            SelectedItem.objects.get_or_create(
                appointment=appointment, instance=instance, defaults={"position": last}
            )
            last += 1


def selection_items(*, appointment: Appointment) -> list[SelectedItem]:
    """The patient's items in order (images that arrived on the patient AE included)."""
    with transaction.atomic():
        _sync(appointment)
    return list(
        SelectedItem.objects.filter(appointment=appointment)
        .select_related("instance", "media")
        .order_by("position", "id")
    )


def selection_set(
    *, appointment: Appointment, instance_keys: list[str], user: User | None
) -> list[SelectedItem]:
    """Tick exactly these images (by `Instance.key` or `ExportedMedia.key`), in this order;
    untick the rest."""
    if len(set(instance_keys)) != len(instance_keys):
        raise SelectionError("an image is listed twice")
    instances = {
        instance.key: instance
        for instance in Instance.objects.filter(study__appointment=appointment)
    }
    media = {m.key: m for m in ExportedMedia.objects.filter(appointment=appointment)}
    unknown = [key for key in instance_keys if key not in instances and key not in media]
    if unknown:
        raise SelectionError("an image does not belong to this exam")
    with transaction.atomic():
        chosen = [instances[key] for key in instance_keys if key in instances]
        Instance.objects.filter(study__appointment=appointment).exclude(
            key__in=instance_keys
        ).update(selected_for_patient=False)
        Instance.objects.filter(pk__in=[i.pk for i in chosen]).update(selected_for_patient=True)
        SelectedItem.objects.filter(appointment=appointment).exclude(
            instance__key__in=instance_keys
        ).exclude(media__key__in=instance_keys).delete()
        for position, key in enumerate(instance_keys):
            target = {"instance": instances[key]} if key in instances else {"media": media[key]}
            SelectedItem.objects.update_or_create(
                appointment=appointment, **target, defaults={"position": position}
            )
        audit_record(
            event=events.SELECTION_CHANGED,
            user=user,
            patient_ref=appointment.patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            detail=f"{len(instance_keys)} images selected",
            source="web",
        )
    return selection_items(appointment=appointment)


def selected_item_frame_set(*, item: SelectedItem, frame: int, user: User | None) -> SelectedItem:
    """The poster (still) frame of a clip, 0-based."""
    if item.instance is None:
        raise SelectionError("an uploaded clip's still is its middle frame; it cannot be chosen")
    frames = item.instance.number_of_frames
    if not 0 <= frame < frames:
        raise SelectionError(f"frame {frame} does not exist (0..{frames - 1})")
    with transaction.atomic():
        item.frame = frame
        item.save(update_fields=["frame", "updated_at"])
        audit_record(
            event=events.SELECTION_CHANGED,
            user=user,
            patient_ref=item.appointment.patient.patient_id,
            object_ref=item_ref(item),
            detail=f"poster frame {frame}",
            source="web",
        )
    return item


def item_ref(item: SelectedItem) -> str:
    """The audit object reference of an item's image."""
    if item.media is not None:
        return f"exported media {item.media.key}"
    return f"instance {item.key}"


def _instance_path(instance: Instance) -> Path:
    current = instance.current_file()
    if current is None:
        raise SelectionError("the image has no archived file")
    return Path(settings.ARCHIVE_DIR) / current.relative_path


def selected_item_crop_set(
    *,
    item: SelectedItem,
    crop: tuple[int, int, int, int],
    user: User | None,
    save_as_rule: bool = False,
) -> SelectedItem:
    """Set the staff crop (x0, y0, x1, y1, corners included); optionally keep it as the
    device rule for this machine and image size, so that later images need no review."""
    if len(crop) != 4 or not all(isinstance(value, int) for value in crop):
        raise SelectionError("a crop box is four whole numbers: x0, y0, x1, y1")
    rect = Rect(*crop)
    if item.media is not None:
        if save_as_rule:
            raise SelectionError("an uploaded file names no machine: its crop cannot be a rule")
        columns, rows = item.media.columns, item.media.rows
    else:
        header = _header(item)
        columns, rows = header.columns, header.rows
    if not rect.fits(columns, rows):
        raise SelectionError(f"crop box {crop} is not inside the {columns}x{rows} image")
    with transaction.atomic():
        item.crop = [rect.x0, rect.y0, rect.x1, rect.y1]
        item.branch = "staff_crop"
        item.review_reason = ""
        item.save(update_fields=["crop", "branch", "review_reason", "updated_at"])
        if save_as_rule:
            device_rule_from_crop(
                manufacturer=header.manufacturer,
                model_name=header.model_name,
                columns=header.columns,
                rows=header.rows,
                crop=rect,
                user=user,
            )
        audit_record(
            event=events.CROP_SET,
            user=user,
            patient_ref=item.appointment.patient.patient_id,
            object_ref=item_ref(item),
            detail=f"crop {item.crop}" + (" saved as device rule" if save_as_rule else ""),
            source="web",
        )
    return item


def _header(item: SelectedItem):  # type: ignore[no-untyped-def]
    if item.instance is None:
        raise SelectionError("an uploaded file has no DICOM header")
    try:
        return read_header(
            _instance_path(item.instance), pixel_budget=render_settings().pixel_budget
        )
    except ImageRefused as exc:
        raise SelectionError(str(exc)) from exc


def item_crop(item: SelectedItem) -> Rect | None:
    return Rect(*item.crop) if item.crop else None


def selected_item_mask(*, item: SelectedItem) -> Mask:
    """The mask rendering would use, from the header alone; records the branch on the item.
    Exported media need a staff crop (fail closed)."""
    try:
        if item.media is not None:
            mask = staff_mask(item.media, item_crop(item))
        else:
            rules = DeviceRule.objects.specs()
            mask = decide_mask(_header(item), rules=rules, crop=item_crop(item))
    except (ImageRefused, SelectionError) as exc:
        mask = Mask(branch="needs_review", note=str(exc))
    if (item.branch, item.review_reason) != (mask.branch, _reason(mask)):
        item.branch, item.review_reason = mask.branch, _reason(mask)
        SelectedItem.objects.filter(pk=item.pk).update(
            branch=item.branch, review_reason=item.review_reason
        )
    return mask


def _reason(mask: Mask) -> str:
    return mask.note[:300] if mask.branch == "needs_review" else ""


def selected_item_preview(*, item: SelectedItem, user: User | None = None) -> PreviewResult:
    """The staff preview: the frame with what the patient will see outlined, and the branch."""
    try:
        preview = _preview(item)
    except ImageRefused as exc:
        raise SelectionError(str(exc)) from exc
    selected_item_mask(item=item)
    if user is not None:
        audit_record(
            event=events.PREVIEW_VIEWED,
            user=user,
            patient_ref=item.appointment.patient.patient_id,
            object_ref=item_ref(item),
            source="web",
        )
    return PreviewResult(
        jpeg=preview.jpeg,
        branch=preview.mask.branch,
        reason=preview.mask.note,
        columns=preview.columns,
        rows=preview.rows,
        frame=preview.frame,
    )


def _preview(item: SelectedItem) -> Preview:
    if item.media is not None:
        return preview_upload(
            media_path(item.media), settings=render_settings(), crop=item_crop(item)
        )
    if item.instance is None:  # the database's check constraint rules this out
        raise SelectionError("the item has no image")
    return preview_item(
        _instance_path(item.instance),
        settings=render_settings(),
        rules=DeviceRule.objects.specs(),
        crop=item_crop(item),
        frame=item.frame,
    )
