"""Staff thumbnails of archived images: made by a job, kept in the data folder.

Decoding a DICOM (a compressed cine may be hundreds of MB) is too heavy for a request (H3),
so the Exam page enqueues `make_thumbnail` for each image without one and shows a
placeholder until the file exists. Thumbnails are of the unmasked image: staff see what the
machine showed. They are named by the archived file's SHA-256, so a new version of an
instance gets a new thumbnail and identical bytes share one.

Exported JPEG/PNG/MP4 get theirs when they are uploaded (one still or the first frame of a
clip, decoded in the upload request that just checked the file anyway). If the data folder
lost one, the thumbnail request queues the same job to make it again (a full-HD decode is
~100 ms: too heavy for a request too) and answers a placeholder meanwhile.

The previews of picked items and their markers live here too (`<sha256>.preview-<key>.jpg`,
item_views.py), so everything below removes them with their source.

A thumbnail is patient data like its source: when the archive deletes files (purge,
destruction on request) `thumbnails_remove` takes their thumbnails along (receivers.py), and
`archive verify` has `thumbnails_sweep` remove those whose source is gone anyway. A thumbnail
written while its source was being deleted is removed by its maker (`_kept_if`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

from django.conf import settings

from echoshare.archive import storage
from echoshare.archive.models import Instance, InstanceFile
from echoshare.clinic.exported_media import media_path
from echoshare.clinic.models import ExportedMedia
from echoshare.imaging.cache import is_sha256
from echoshare.imaging.config import render_settings
from echoshare.imaging.decode import read_display_frame, read_header
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.preview import Preview, preview_upload
from echoshare.imaging.stills import encode_thumbnail

STAFF_THUMBNAIL_SIZE = 240
SWEEP_BATCH = 1000
# A `_write` temporary file this old belongs to a writer that died.
STALE_PART_SECONDS = 3600

log = logging.getLogger(__name__)


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
    return _wanted(thumbnail_path(file))


def _wanted(target: Path) -> bool:
    if target.exists() or target.with_suffix(".refused").exists():
        return False
    return pending_claim(target.with_suffix(".pending"))


def pending_claim(pending: Path) -> bool:
    """True, and the marker touched, when no job for it was queued in the last few minutes;
    False otherwise (reloading a page queues no more jobs)."""
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
    return _kept_if(target, InstanceFile.objects.filter(pk=file.pk).exists)


def media_thumbnail_path(media: ExportedMedia) -> Path:
    return thumbnail_dir() / media.sha256[:2] / f"{media.sha256}.jpg"


def media_refused_marker(media: ExportedMedia) -> Path:
    """Written when the upload cannot be decoded (any more): the request stops queueing."""
    return media_thumbnail_path(media).with_suffix(".refused")


def media_thumbnail_wanted(media: ExportedMedia) -> bool:
    """True (and marked pending) when a job should be queued to make the upload's thumbnail
    again: none, not undecodable, and none queued in the last few minutes."""
    return _wanted(media_thumbnail_path(media))


def media_thumbnail_make(*, media: ExportedMedia) -> Path | None:
    """The staff thumbnail of an uploaded JPEG/PNG/MP4 (idempotent); None if undecodable."""
    target = media_thumbnail_path(media)
    if target.exists():
        return target
    try:
        preview = _media_preview(media)
    except ImageRefused as exc:
        _write(media_refused_marker(media), str(exc).encode())
        return None
    _write(target, preview.jpeg)
    target.with_suffix(".pending").unlink(missing_ok=True)
    return _kept_if(target, ExportedMedia.objects.filter(pk=media.pk).exists)


def _media_preview(media: ExportedMedia) -> Preview:
    """The upload's thumbnail-sized preview, or ImageRefused and never another error: a job
    that raised would be retried for nothing while the page waits for it."""
    try:
        path = media_path(media)
    except ValueError as exc:  # a tampered row naming a path outside the archive
        raise ImageRefused("the stored file's path is not inside the archive") from exc
    try:
        return preview_upload(path, settings=render_settings(), max_size=STAFF_THUMBNAIL_SIZE)
    except OSError as exc:  # gone or unreadable (a damaged file is ImageRefused already)
        raise ImageRefused(f"the stored file cannot be read: {exc.strerror}") from exc


def _kept_if(target: Path, source_archived: Callable[[], bool]) -> Path | None:
    """The thumbnail just written, or None (removed) if its source was deleted meanwhile.

    The archive removes thumbnails after the commit that deletes their source; checking the
    row *after* writing closes the race with a job that decoded the file before that commit:
    either this check sees the row gone, or the archive's removal comes after the write.
    """
    if source_archived():
        return target
    target.unlink(missing_ok=True)
    return None


def _write(target: Path, data: bytes) -> None:
    # Temporary file then rename: a reader never sees half a JPEG.
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.part")
    temp.write_bytes(data)
    os.replace(temp, target)


def thumbnails_remove(sha256s: Iterable[str]) -> int:
    """Remove the thumbnails (and refused/pending markers, half-written files) of the
    archived files with these SHA-256. A file that cannot be removed is logged and left for
    `thumbnails_sweep`. -> files removed"""
    removed = 0
    for sha256 in sha256s:
        if not is_sha256(sha256):  # never build a path from anything else
            log.error("not removing staff thumbnails of %r: not a SHA-256", sha256)
            continue
        folder = thumbnail_dir() / sha256[:2]
        if folder.is_dir():
            removed += _unlink_all(
                [*folder.glob(f"{sha256}.*"), *folder.glob(f".{sha256}.*")]  # _write's temps
            )
    return removed


def thumbnails_sweep(still_archived: Callable[[Collection[str]], Collection[str]]) -> int:
    """Remove thumbnails whose archived file is gone (`still_archived` does not know its
    SHA-256), and temporary files of dead writers. -> files removed"""
    removed = 0
    for batch in _batches(_thumbnail_files(), SWEEP_BATCH):
        kept = still_archived(list(batch))
        stale = time.time() - STALE_PART_SECONDS
        for sha256, paths in batch.items():
            if sha256 not in kept:
                removed += _unlink_all(paths)
            else:
                removed += _unlink_all(
                    p for p in paths if p.name.endswith(".part") and _older(p, stale)
                )
    return removed


def _thumbnail_files() -> Iterator[tuple[str, list[Path]]]:
    """(SHA-256, its files) for every archived file with something in the thumbnail folder."""
    root = thumbnail_dir()
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        by_source: dict[str, list[Path]] = {}
        for path in folder.iterdir():
            name = path.name.removeprefix(".")  # `.<sha>.jpg.<pid>.part` of `_write`
            sha256 = name[:64]
            if is_sha256(sha256) and name[64:65] == ".":
                by_source.setdefault(sha256, []).append(path)
        yield from sorted(by_source.items())


def _batches(items: Iterable[tuple[str, list[Path]]], size: int) -> Iterator[dict[str, list[Path]]]:
    batch: dict[str, list[Path]] = {}
    for sha256, paths in items:
        batch[sha256] = paths
        if len(batch) == size:
            yield batch
            batch = {}
    if batch:
        yield batch


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _unlink_all(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # a job removed its own `.pending`, or a sweep ran at the same time
        except OSError as exc:  # left behind: the next sweep tries again
            log.error("could not remove staff thumbnail %s: %s", path, exc)
            continue
        removed += 1
    return removed
