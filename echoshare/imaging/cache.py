"""Rendered outputs cached on disk, so publishing the same item again costs nothing.

The key is sha256(instance file hash + mask + chosen frame + render settings and version):
the same original rendered the same way is rendered once. Entries are written to a temporary
folder and renamed into place, so a crashed worker never leaves a half entry that a later
job would take for finished, and two workers rendering the same item both end with one
complete entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from echoshare.imaging.config import cache_root, render_settings
from echoshare.imaging.decode import read_header
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


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def cache_key(*, file_hash: str, mask: Mask, still_frame: int, settings: RenderSettings) -> str:
    text = "\n".join([file_hash, mask.key(), str(still_frame), settings.key()])
    return hashlib.sha256(text.encode()).hexdigest()


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
    mask = decide_mask(header, rules=rules, crop=crop)
    if mask.branch == "needs_review":
        return RenderResult(branch=mask.branch, mask=mask, reason=mask.note)
    still = chosen_frame(header, frame)
    key = cache_key(
        file_hash=file_hash or file_sha256(path), mask=mask, still_frame=still, settings=settings
    )
    entry = cache_root() / key[:2] / key
    _sweep_abandoned(entry.parent.parent)
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


def _sweep_abandoned(root: Path) -> None:
    """Remove partial entries of workers that died mid-render (no render takes hours)."""
    too_old = time.time() - ABANDONED_AFTER_SECONDS
    for partial in root.glob("*/.partial-*"):
        with contextlib.suppress(OSError):
            if partial.stat().st_mtime < too_old:
                shutil.rmtree(partial, ignore_errors=True)


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
