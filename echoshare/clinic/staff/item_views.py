"""The two views of a picked item on the Exam page, made by a job and never in a request (H3).

- patient view: the still of the very render publishing sends, read from the render cache
  (`render_cached` / `exported_media_render`). The job renders the whole item (for a clip
  the MP4 too), which publishing then reuses from the cache.
- preview: the unmasked frame with the mask outlined, kept in the staff thumbnail folder as
  `<source sha256>.preview-<key>.jpg`. A small frame is still previewed inside the request
  (`Target.cheap`, measured below).

The request looks (header only) where the view would be: it serves it if made, says why if
the job could not make it, and otherwise queues `make_item_view` once (a `.pending` marker
keeps reloads from queueing more) and answers a placeholder. Every file here is named
`<source sha256>.*` in the thumbnail folder, so `thumbnails_remove` and `thumbnails_sweep`
take them along with their source (patient data, like the thumbnails).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydicom.uid import JPEGBaseline8Bit

from echoshare.archive import storage
from echoshare.archive.models import InstanceFile
from echoshare.clinic.exported_media import (
    exported_media_entry,
    exported_media_render,
    media_path,
)
from echoshare.clinic.models import ExportedMedia, SelectedItem
from echoshare.clinic.selection import item_crop

# `_write` (temporary file, then rename) and `_kept_if` (no file left of a deleted source) are
# the thumbnails' own safeguards, shared on purpose.
from echoshare.clinic.staff.thumbnails import _kept_if, _write, pending_claim, thumbnail_dir
from echoshare.imaging.cache import MANIFEST, cache_plan, cached_entry, render_cached
from echoshare.imaging.config import render_settings
from echoshare.imaging.decode import read_header
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Mask
from echoshare.imaging.models import DeviceRule
from echoshare.imaging.preview import Preview, preview_item, preview_upload
from echoshare.imaging.render import DeviceRuleSpec, RenderResult

PATIENT, PREVIEW = "patient", "preview"
VIEWS = (PATIENT, PREVIEW)
# Bump when the same source, mask and frame would now give a different preview.
PREVIEW_VERSION = 1
PREVIEW_MAX_SIZE = 1024
# A preview decodes one frame, draws the outline and encodes a JPEG. Measured (best of 5, the
# 2-core build machine, 2026-11-26): bench/render's 800x600 cine 8 ms uncompressed and 11 ms
# as JPEG baseline; the test fixtures (160x120 DICOM, 320x240 JPEG/PNG/MP4 uploads) 1-4 ms;
# 800x600 uploads 21 ms (JPEG, PNG) and 38 ms (MP4); but 1920x1080 uploads 90 ms (JPEG),
# 95 ms (PNG) and 144 ms (MP4). So only frames up to 800x600, of DICOM stored uncompressed or
# as JPEG baseline or of an uploaded JPEG/PNG/MP4, are previewed in the request (< 50 ms);
# anything larger or slower to decode (JPEG 2000, JPEG-LS, RLE: not measured) goes to the job.
SYNC_PREVIEW_PIXELS = 800 * 600

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """What decides an item's views, read from the header alone (no pixels decoded)."""

    item: SelectedItem
    sha256: str
    path: Path
    mask: Mask
    frame: int
    pixels: int  # of one frame
    quick_to_decode: bool
    # Where publishing's render is cached (`render_cached` / `exported_media_render`), made
    # yet or not: the patient view is its still. Nothing is cached there while the mask
    # needs review.
    render_entry: Path


@dataclass(frozen=True)
class Target:
    """Where one view of an item is kept (or will be), and how it is made."""

    source: Source
    view: str
    key: str  # hex digest of how the view is made: a new crop, rule or frame gets a new one

    def _file(self, suffix: str) -> Path:
        sha = self.source.sha256
        return thumbnail_dir() / sha[:2] / f"{sha}.{self.view}-{self.key}.{suffix}"

    @property
    def preview_file(self) -> Path:
        return self._file("jpg")

    @property
    def refused_marker(self) -> Path:
        return self._file("refused")

    @property
    def pending_marker(self) -> Path:
        return self._file("pending")

    @property
    def cheap(self) -> bool:
        """A preview small enough to make inside the request (see SYNC_PREVIEW_PIXELS)."""
        return (
            self.view == PREVIEW
            and self.source.quick_to_decode
            and self.source.pixels <= SYNC_PREVIEW_PIXELS
        )

    def render_entry(self) -> Path:
        """The patient view's render-cache entry (the key *is* the render cache's key)."""
        return self.source.render_entry


def item_source(item: SelectedItem, *, rules: list[DeviceRuleSpec] | None = None) -> Source:
    """Raises ImageRefused when the header cannot be read or the crop/frame do not fit."""
    crop = item_crop(item)
    if item.media is not None:
        entry, mask = exported_media_entry(media=item.media, crop=crop)
        return Source(
            item=item,
            sha256=item.media.sha256,
            path=_inside_archive(media_path, item.media),
            mask=mask,
            frame=0,
            pixels=item.media.columns * item.media.rows,
            quick_to_decode=True,
            render_entry=entry,
        )
    file = item.instance.current_file() if item.instance is not None else None
    if file is None:
        raise ImageRefused("the image has no archived file")
    path = _inside_archive(storage.absolute, file.relative_path)
    settings = render_settings()
    header = read_header(path, pixel_budget=settings.pixel_budget)
    if rules is None:
        rules = DeviceRule.objects.specs()
    # What `render_cached` will do with this file (mask, frame, cache entry): asked of the
    # render cache itself, never worked out again here.
    plan = cache_plan(header, rules=rules, frame=item.frame, crop=crop, settings=settings)
    return Source(
        item=item,
        sha256=file.sha256,
        path=path,
        mask=plan.mask,
        frame=plan.still_frame(),
        pixels=header.columns * header.rows,
        quick_to_decode=not header.encapsulated or header.transfer_syntax == JPEGBaseline8Bit,
        render_entry=plan.entry(file.sha256),
    )


def _inside_archive(locate: Callable[[T], Path], stored: T) -> Path:
    try:
        return locate(stored)
    except ValueError as exc:  # a tampered row naming a path outside the archive
        raise ImageRefused("the stored file's path is not inside the archive") from exc


def item_target(source: Source, view: str) -> Target:
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}")
    if view == PATIENT:
        # The render cache's own key (tests/staffpages check that the job's render is found).
        return Target(source=source, view=view, key=source.render_entry.name)
    text = "\n".join(
        [
            f"preview v{PREVIEW_VERSION}",
            source.mask.branch,
            source.mask.key(),
            str(source.frame),
            str(PREVIEW_MAX_SIZE),
        ]
    )
    return Target(source=source, view=view, key=hashlib.sha256(text.encode()).hexdigest())


class _NotRendered(Exception):
    pass


def _never_render(work: Path) -> RenderResult:
    raise _NotRendered  # a request only reads the cache


def is_made(target: Target) -> bool:
    """Whether the job made the view (a file test: nothing is read or decoded)."""
    if target.view == PREVIEW:
        return target.preview_file.exists()
    return (target.render_entry() / MANIFEST).exists()


def made(target: Target) -> bytes | None:
    """The view's JPEG if the job made it; never renders."""
    if target.view == PREVIEW:
        try:
            return target.preview_file.read_bytes()
        except FileNotFoundError:
            return None
    entry = target.render_entry()
    if not (entry / MANIFEST).exists():
        return None
    try:  # the entry could be swept between the check and here: still nothing rendered
        result = cached_entry(entry, target.source.mask, _never_render)
        return result.outputs["still"].read_bytes()
    except (_NotRendered, FileNotFoundError):
        return None


def refused_reason(target: Target) -> str | None:
    """Why the job could not make the view (the image cannot be decoded), or None."""
    try:
        return target.refused_marker.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def job_wanted(target: Target) -> bool:
    """True (and marked pending) when a job should be queued now: none was in the last few
    minutes, so reloading the page queues no more."""
    return pending_claim(target.pending_marker)


def item_view_make(*, item: SelectedItem, view: str) -> bool:
    """The job: make one view of the item as it is now (idempotent). -> made (False: refused,
    or the item needs review and has no patient view)."""
    rules = DeviceRule.objects.specs()
    try:
        source = item_source(item, rules=rules)
    except ImageRefused:
        return False  # the request answers the reason itself (it reads the same header)
    target = item_target(source, view)
    try:
        if view == PREVIEW:
            _write(target.preview_file, _preview(source, rules).jpeg)
            done = _kept_if(target.preview_file, lambda: _source_archived(source)) is not None
        else:
            done = _render(source, rules).publishable
    except ImageRefused as exc:
        _write(target.refused_marker, str(exc).encode())
        done = False
    target.pending_marker.unlink(missing_ok=True)
    return done


def _source_archived(source: Source) -> bool:
    item = source.item
    if item.media is not None:
        return ExportedMedia.objects.filter(pk=item.media.pk).exists()
    return InstanceFile.objects.filter(sha256=source.sha256).exists()


def _preview(source: Source, rules: list[DeviceRuleSpec]) -> Preview:
    crop, settings = item_crop(source.item), render_settings()
    if source.item.media is not None:
        return preview_upload(source.path, settings=settings, crop=crop, max_size=PREVIEW_MAX_SIZE)
    return preview_item(
        source.path,
        settings=settings,
        rules=rules,
        crop=crop,
        frame=source.item.frame,
        max_size=PREVIEW_MAX_SIZE,
    )


def _render(source: Source, rules: list[DeviceRuleSpec]) -> RenderResult:
    """What publishing renders for the item (echoshare/clinic/publishing.py `_render`)."""
    crop = item_crop(source.item)
    if source.item.media is not None:
        return exported_media_render(media=source.item.media, crop=crop)
    return render_cached(
        source.path, file_hash=source.sha256, rules=rules, frame=source.item.frame, crop=crop
    )
