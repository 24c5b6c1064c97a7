"""Exported JPEG/PNG/MP4 staff upload onto an exam: stored as uploaded, handed out re-encoded.

    upload (archive tmp file) -> type by content + decoded once (bomb and pixel budget checks)
        -> ARCHIVE_DIR/exported/YYYY/MM/DD/<random>.<kind>, fsynced -> ExportedMedia + audit
    publishing -> `exported_media_render`: `render_upload` with the staff crop, cached by the
        file's hash, crop and render settings (a retry sends the very same files)

The original is medical data of the exam: it stays in the clinic tier for the archive's
retention, re-hashed by `archive verify`, and deleted only with its exam by the archive's
purge or destruction on request (echoshare/archive/fixity.py, retention.py). What a patient
gets is always rebuilt from the pixels (no EXIF, text chunks, audio or tags) and only with a
staff crop: exported media carry no image regions.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from echoshare.archive import storage
from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.models import Appointment, ExportedMedia
from echoshare.imaging.cache import cached_entry, source_entry
from echoshare.imaging.config import render_settings
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Mask, Rect
from echoshare.imaging.preview import preview_upload
from echoshare.imaging.render import RenderResult
from echoshare.imaging.uploads import render_upload, upload_kind

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class MediaRefused(ValueError):
    """An upload that is not a usable JPEG/PNG/MP4; `status` is the HTTP status to answer."""

    def __init__(self, reason: str, *, status: int) -> None:
        super().__init__(reason)
        self.status = status


def media_path(media: ExportedMedia) -> Path:
    """The stored file; ValueError for a row naming anything outside ARCHIVE_DIR/exported/."""
    return storage.exported_absolute(media.relative_path)


def _new_relative_path(kind: str) -> PurePosixPath:
    now = timezone.now()
    name = f"{secrets.token_hex(16)}.{kind}"
    return PurePosixPath(storage.EXPORTED, f"{now:%Y}", f"{now:%m}", f"{now:%d}", name)


def media_kind(path: Path) -> str:
    """'jpeg', 'png' or 'mp4' from the content, or MediaRefused (415/422)."""
    try:
        kind = upload_kind(path)
    except ImageRefused as exc:
        raise MediaRefused(str(exc), status=415) from exc
    return kind


def _decoded_size(path: Path) -> tuple[int, int]:
    """Decode the (first) frame once: a damaged file, a decompression bomb or an image over
    the pixel budget is refused now, not when the patient's share is made."""
    try:
        preview = preview_upload(path, settings=render_settings(), max_size=64)
    except ImageRefused as exc:
        raise MediaRefused(str(exc), status=422) from exc
    return preview.columns, preview.rows


def exported_media_store(
    *, appointment: Appointment, path: Path, name: str, user: User | None, source: str = "web"
) -> tuple[ExportedMedia, bool]:
    """Keep an uploaded JPEG/PNG/MP4 (moved from `path`) with the exam. -> (media, created).

    The same bytes uploaded again onto the same exam give the stored one back.
    Raises MediaRefused (415: not JPEG/PNG/MP4; 422: damaged, a bomb, too many pixels).
    """
    kind = media_kind(path)
    columns, rows = _decoded_size(path)
    sha256, size = storage.hash_and_sync(path)
    existing = ExportedMedia.objects.filter(appointment=appointment, sha256=sha256).first()
    if existing is not None:
        return existing, False
    relative = _new_relative_path(kind)
    target = storage.exported_absolute(relative)
    storage.make_dirs(target.parent)
    storage.rename(path, target)
    storage.fsync_dir(target.parent)
    try:
        with transaction.atomic():
            media = ExportedMedia.objects.create(
                appointment=appointment,
                kind=kind,
                relative_path=relative.as_posix(),
                sha256=sha256,
                size=size,
                columns=columns,
                rows=rows,
                original_name=name[:255],
                uploaded_by=user,
            )
            audit_record(
                event=events.IMAGE_UPLOADED,
                user=user,
                patient_ref=appointment.patient.patient_id,
                object_ref=f"exported media {media.key}",
                detail=f"{kind}, {size} bytes, sha256 {sha256}",
                source=source,
            )
    except IntegrityError:  # the same file, uploaded at the same moment by someone else
        storage.remove_quietly(target)
        return ExportedMedia.objects.get(appointment=appointment, sha256=sha256), False
    except BaseException:
        storage.remove_quietly(target)  # not recorded, so not kept
        raise
    return media, True


def staff_mask(media: ExportedMedia, crop: Rect | None) -> Mask:
    """Exported media fail closed: only a staff crop inside the image makes them publishable."""
    if crop is None:
        return Mask(
            branch="needs_review",
            note="exported media carry no image regions: set a crop box",
        )
    if not crop.fits(media.columns, media.rows):
        return Mask(
            branch="needs_review",
            note=f"crop box is not inside the {media.columns}x{media.rows} image",
        )
    return Mask(branch="staff_crop", crop=crop, note="staff crop")


def exported_media_entry(*, media: ExportedMedia, crop: Rect | None) -> tuple[Path, Mask]:
    """Where `exported_media_render` caches the item's files, and its mask (which may be
    "needs_review": then nothing is ever cached there). Looking here renders nothing: the
    staff pages serve what a job rendered (H3)."""
    mask = staff_mask(media, crop)
    render = render_settings()
    text = "\n".join(["exported", media.sha256, mask.key(), render.key()])
    key = hashlib.sha256(text.encode()).hexdigest()
    # With the file's other renders: removed with it.
    return source_entry(media.sha256, key), mask


def exported_media_render(*, media: ExportedMedia, crop: Rect | None) -> RenderResult:
    """The patient's files of an exported item, re-encoded through `render_upload`.

    Cached under the render cache by (file hash, crop, render settings): a publish retry
    sends exactly the files of its first attempt. Without a crop nothing is rendered.
    """
    entry, mask = exported_media_entry(media=media, crop=crop)
    if mask.branch == "needs_review":
        return RenderResult(branch=mask.branch, mask=mask, reason=mask.note)
    render = render_settings()
    return cached_entry(
        entry,
        mask,
        lambda work: render_upload(media_path(media), out_dir=work, settings=render, crop=crop),
    )
