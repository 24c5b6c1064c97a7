"""Rendered outputs cached on disk, so publishing the same item again costs nothing.

The key is sha256(instance file hash + mask + chosen frame + render settings and version):
the same original rendered the same way is rendered once. Entries are written to a temporary
folder and renamed into place, so a crashed worker never leaves a half entry that a later
job would take for finished, and two workers rendering the same item both end with one
complete entry.

Entries are grouped by the SHA-256 of the file they were rendered from,
`render-cache/sources/<sha[:2]>/<sha>/<key>/`, so that every render of an archived file can
be removed with it (purge, destruction on request: `cache_remove_sources`) and entries whose
source is gone can be found (`cache_sweep`).

`cache_plan` is the lookup half of `render_cached`: from the header alone, where a render
is (or would be) cached, for those who may only look (a web request, H3).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from echoshare.imaging.config import cache_root, render_settings
from echoshare.imaging.decode import ImageHeader, read_header
from echoshare.imaging.masking import Mask, Rect
from echoshare.imaging.render import (
    DeviceRuleSpec,
    RenderResult,
    RenderSettings,
    chosen_frame,
    decide_mask,
    render_with_mask,
)

MANIFEST = "result.json"
ABANDONED_AFTER_SECONDS = 6 * 3600
SOURCES = "sources"
# Folders of the layout before entries were grouped by source (`<key[:2]>/<key>/` and
# `exported/<key>/`): which file they were rendered from cannot be told, so `cache_sweep`
# removes them (a cache: whatever is needed again is rendered again).
_LEGACY_FOLDER = re.compile(r"[0-9a-f]{2}|exported")
_SHA256 = re.compile(r"[0-9a-f]{64}")
SWEEP_BATCH = 1000

log = logging.getLogger(__name__)


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def is_sha256(text: str) -> bool:
    return _SHA256.fullmatch(text) is not None


def source_folder(file_hash: str) -> Path:
    """The folder of every entry rendered from the file with this SHA-256."""
    if not is_sha256(file_hash):  # never build a path from anything else
        raise ValueError(f"not a SHA-256: {file_hash!r}")
    return cache_root() / SOURCES / file_hash[:2] / file_hash


def source_entry(file_hash: str, key: str) -> Path:
    """The entry `key` (a hex digest of how it is rendered) of the file with this SHA-256."""
    if not is_sha256(key):
        raise ValueError(f"not a cache key: {key!r}")
    return source_folder(file_hash) / key


def cache_key(*, file_hash: str, mask: Mask, still_frame: int, settings: RenderSettings) -> str:
    text = "\n".join([file_hash, mask.key(), str(still_frame), settings.key()])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachePlan:
    """How `render_cached` renders a file, decided from its header alone: nothing is decoded
    or rendered. The one place that says where a DICOM render is cached, so that the staff
    pages find the very render publishing sends (echoshare/clinic/staff/item_views.py)."""

    header: ImageHeader
    mask: Mask
    frame: int | None  # the staff's choice; None: the header's (see `chosen_frame`)
    settings: RenderSettings

    def still_frame(self) -> int:
        """The still/poster frame; ImageRefused when the chosen frame is not in the image."""
        return chosen_frame(self.header, self.frame)

    def entry(self, file_hash: str) -> Path:
        """The cache entry of this render of the file with this SHA-256, made yet or not.
        Nothing is ever cached for a mask that needs review (`render_cached`)."""
        key = cache_key(
            file_hash=file_hash,
            mask=self.mask,
            still_frame=self.still_frame(),
            settings=self.settings,
        )
        return source_entry(file_hash, key)


def cache_plan(
    header: ImageHeader,
    *,
    rules: Sequence[DeviceRuleSpec] = (),
    frame: int | None = None,
    crop: Rect | None = None,
    settings: RenderSettings | None = None,
) -> CachePlan:
    """The plan `render_cached` follows for a file with this header (a lookup: renders
    nothing, reads no pixels)."""
    return CachePlan(
        header=header,
        mask=decide_mask(header, rules=rules, crop=crop),
        frame=frame,
        settings=settings or render_settings(),
    )


def render_cached(
    path: str | os.PathLike[str],
    *,
    file_hash: str | None = None,
    rules: Sequence[DeviceRuleSpec] = (),
    frame: int | None = None,
    crop: Rect | None = None,
    settings: RenderSettings | None = None,
) -> RenderResult:
    """render_item with a cache under DATA_DIR/render-cache; the archive's SHA-256 of the
    file may be passed as `file_hash` to save hashing it again.

    Outputs of a returned result live in the cache: copy them, never move or edit them.
    Items that need review are decided from the header alone and nothing is cached.
    """
    settings = settings or render_settings()
    header = read_header(path, pixel_budget=settings.pixel_budget)
    plan = cache_plan(header, rules=rules, frame=frame, crop=crop, settings=settings)
    mask = plan.mask
    if mask.branch == "needs_review":
        return RenderResult(branch=mask.branch, mask=mask, reason=mask.note)
    still = plan.still_frame()
    entry = plan.entry(file_hash or file_sha256(path))
    return cached_entry(
        entry,
        mask,
        lambda work: render_with_mask(header, mask, out_dir=work, settings=settings, frame=still),
    )


def cached_entry(entry: Path, mask: Mask, render: Callable[[Path], RenderResult]) -> RenderResult:
    """The result cached in folder `entry`, or `render(work_folder)` saved there first.

    The work folder is renamed into place only when complete: a crashed worker leaves no
    half entry, and two workers rendering the same entry both end with one complete entry.
    """
    if (entry / MANIFEST).exists():
        return _load(entry, mask)
    entry.parent.mkdir(parents=True, exist_ok=True)
    _sweep_abandoned(entry.parent)  # the same source's folder: small (`cache_sweep` does all)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=entry.parent))
    try:
        _save(work, render(work))
        try:
            work.rename(entry)
        except OSError:  # another worker finished the same entry first
            if not (entry / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _load(entry, mask)


def _sweep_abandoned(folder: Path) -> None:
    """Remove partial entries of workers that died mid-render (no render takes hours)."""
    too_old = time.time() - ABANDONED_AFTER_SECONDS
    for partial in folder.glob(".partial-*"):
        with contextlib.suppress(OSError):
            if partial.stat().st_mtime < too_old:
                shutil.rmtree(partial, ignore_errors=True)


def cache_remove_sources(sha256s: Iterable[str]) -> int:
    """Remove every entry rendered from the files with these SHA-256 (any mask, frame or
    settings). A folder that cannot be removed is logged and left for `cache_sweep`.
    -> how many sources had entries removed"""
    removed = 0
    for sha256 in sha256s:
        try:
            folder = source_folder(sha256)
        except ValueError:
            log.error("not removing render-cache entries of %r: not a SHA-256", sha256)
            continue
        removed += _remove_tree(folder)
    return removed


def cache_sweep(still_archived: Callable[[Collection[str]], Collection[str]]) -> int:
    """Remove the entries of sources that `still_archived` no longer knows (a removal that
    failed, or a render that finished while its source was deleted), partial entries of
    dead workers, and entries of the layout before sources/. -> folders removed"""
    root = cache_root()
    removed = sum(_remove_tree(root / name) for name in _legacy_folders(root))
    for batch in _batches(_cached_sources(root / SOURCES), SWEEP_BATCH):
        kept = still_archived(batch)
        for sha256 in batch:
            if sha256 in kept:
                _sweep_abandoned(source_folder(sha256))
            else:
                removed += _remove_tree(source_folder(sha256))
    return removed


def _legacy_folders(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return [p.name for p in root.iterdir() if p.is_dir() and _LEGACY_FOLDER.fullmatch(p.name)]


def _cached_sources(sources: Path) -> Iterator[str]:
    """SHA-256 of every source file with a folder in the cache."""
    if not sources.is_dir():
        return
    for prefix in sorted(sources.iterdir()):
        if prefix.is_dir():
            yield from sorted(p.name for p in prefix.iterdir() if is_sha256(p.name))


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _remove_tree(folder: Path) -> int:
    """1 when the folder was there and is gone now, 0 when there was none or it stays."""
    if not folder.exists():
        return 0
    try:
        shutil.rmtree(folder)
    except OSError as exc:  # left behind: the next `cache_sweep` tries again
        log.error("could not remove render-cache folder %s: %s", folder, exc)
        return 0
    return 1


def _save(folder: Path, result: RenderResult) -> None:
    manifest = {
        "branch": result.branch,
        "reason": result.reason,
        "outputs": {kind: path.name for kind, path in result.outputs.items()},
        "frames": result.frames,
        "frame_rate": str(result.frame_rate) if result.frame_rate else None,
        "width": result.width,
        "height": result.height,
        "still_frame": result.still_frame,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _load(entry: Path, mask: Mask) -> RenderResult:
    manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    return RenderResult(
        branch=mask.branch,  # the mask's origin today; the pixels are the same either way
        mask=mask,
        reason=mask.note,
        outputs={kind: entry / name for kind, name in manifest["outputs"].items()},
        frames=manifest["frames"],
        frame_rate=Fraction(manifest["frame_rate"]) if manifest["frame_rate"] else None,
        width=manifest["width"],
        height=manifest["height"],
        still_frame=manifest["still_frame"],
    )
