"""Staff thumbnails of archived images: made by a job, kept in the data folder.

Decoding a DICOM (a compressed cine may be hundreds of MB) is too heavy for a request (H3),
so the Exam page enqueues `make_thumbnail` for each image without one and shows a
placeholder until the file exists. Thumbnails are of the unmasked image: staff see what the
machine showed. They are named by the archived file's SHA-256, so a new version of an
instance gets a new thumbnail and identical bytes share one.

Exported JPEG/PNG/MP4 get theirs when they are uploaded (one still or the first frame of a
clip, decoded in the upload request that just checked the file anyway).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from echoshare.archive import storage
from echoshare.archive.models import Instance, InstanceFile
from echoshare.clinic.exported_media import media_path
from echoshare.clinic.models import ExportedMedia
from echoshare.imaging.config import render_settings
from echoshare.imaging.decode import read_display_frame, read_header
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Mask
from echoshare.imaging.preview import preview_upload
from echoshare.imaging.render import chosen_frame
from echoshare.imaging.stills import encode_jpeg, encode_thumbnail

STAFF_THUMBNAIL_SIZE = 240


def thumbnail_dir() -> Path:
    return Path(settings.DATA_DIR) / "staff-thumbnails"


def thumbnail_path(file: InstanceFile) -> Path:
    return thumbnail_dir() / file.sha256[:2] / f"{file.sha256}.jpg"


def refused_marker(file: InstanceFile) -> Path:
    """Written when the image cannot be decoded: the page then says so instead of waiting."""
    return thumbnail_path(file).with_suffix(".refused")


PENDING_SECONDS = 300


def thumbnail_wanted(file: InstanceFile) -> bool:
    """True when a job should be queued for this file: no thumbnail, not undecodable, and no
    job queued in the last few minutes (each Exam page view would queue another one)."""
    target = thumbnail_path(file)
    if target.exists() or refused_marker(file).exists():
        return False
    pending = target.with_suffix(".pending")
    try:
        if time.time() - pending.stat().st_mtime < PENDING_SECONDS:
            return False
    except FileNotFoundError:
        pass
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.touch()
    return True


def thumbnail_make(*, instance: Instance) -> Path | None:
    """Make the thumbnail of the instance's current file (idempotent); None if undecodable."""
    file = instance.current_file()
    if file is None:
        return None
    target = thumbnail_path(file)
    if target.exists():
        return target
    settings_ = render_settings()
    try:
        header = read_header(
            storage.absolute(file.relative_path), pixel_budget=settings_.pixel_budget
        )
        frame = read_display_frame(header, header.frames // 2 if header.frames > 1 else 0)
        data = encode_thumbnail(frame, size=STAFF_THUMBNAIL_SIZE, quality=80)
    except ImageRefused as exc:
        _write(refused_marker(file), str(exc).encode())
        return None
    _write(target, data)
    target.with_suffix(".pending").unlink(missing_ok=True)
    return target


def media_thumbnail_path(media: ExportedMedia) -> Path:
    return thumbnail_dir() / media.sha256[:2] / f"{media.sha256}.jpg"


def media_thumbnail_make(*, media: ExportedMedia) -> Path | None:
    """The staff thumbnail of an uploaded JPEG/PNG/MP4 (idempotent); None if undecodable."""
    target = media_thumbnail_path(media)
    if target.exists():
        return target
    try:
        preview = preview_upload(
            media_path(media), settings=render_settings(), max_size=STAFF_THUMBNAIL_SIZE
        )
    except ImageRefused:
        return None
    _write(target, preview.jpeg)
    return target


def _write(target: Path, data: bytes) -> None:
    # Temporary file then rename: a reader never sees half a JPEG.
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.part")
    temp.write_bytes(data)
    os.replace(temp, target)


def patient_still(*, instance: Instance, mask: Mask, frame: int | None) -> bytes:
    """The still exactly as the patient gets it: the chosen frame, masked, as a clean JPEG.

    One frame is decoded (as the staff preview does); raises ImageRefused when it cannot be.
    """
    file = instance.current_file()
    if file is None:
        raise ImageRefused("the image has no archived file")
    settings_ = render_settings()
    header = read_header(storage.absolute(file.relative_path), pixel_budget=settings_.pixel_budget)
    pixels = read_display_frame(header, chosen_frame(header, frame))
    return encode_jpeg(mask.apply(pixels), quality=settings_.jpeg.quality)
