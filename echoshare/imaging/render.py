"""Render one archived DICOM item into what a patient may get: the pure entry point.

    header  -> which mask (validated regions, a device rule, a staff crop, or needs review)
    frames  -> display space -> masked (black outside what is kept)
            -> still (chosen frame), thumbnail, and for a cine an H.264 clip

Nothing is left behind for an item that needs review or is refused. No database access here:
device rules come in as DeviceRuleSpec values (see models.DeviceRule.objects.specs()).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from echoshare.imaging.clips import ClipSettings, encode_clip
from echoshare.imaging.decode import ImageHeader, iter_display_frames, read_header
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Branch, Mask, Rect, needs_review
from echoshare.imaging.regions import validated_regions
from echoshare.imaging.stills import JpegSettings, encode_jpeg, encode_thumbnail

# Bump when the same input and settings would now give different output (cache key).
RENDER_VERSION = 1

STILL_NAME, THUMBNAIL_NAME, CLIP_NAME = "still.jpg", "thumb.jpg", "clip.mp4"


@dataclass(frozen=True)
class RenderSettings:
    pixel_budget: int = 600_000_000
    jpeg: JpegSettings = field(default_factory=JpegSettings)
    clip: ClipSettings = field(default_factory=ClipSettings)

    def key(self) -> str:
        return (
            f"v{RENDER_VERSION};q{self.jpeg.quality};t{self.jpeg.thumbnail_size};"
            f"crf{self.clip.crf};{self.clip.preset}"
        )


@dataclass(frozen=True)
class DeviceRuleSpec:
    """A device rule as plain data: for exactly this machine and image size, what to keep."""

    manufacturer: str
    model_name: str
    columns: int
    rows: int
    keep: tuple[Rect, ...] = ()
    blank: tuple[Rect, ...] = ()
    crop: Rect | None = None
    id: int | None = None

    def matches(self, header: ImageHeader) -> bool:
        """Same manufacturer and model (ignoring case and outer spaces) and the exact size."""
        return (
            _same(self.manufacturer, header.manufacturer)
            and _same(self.model_name, header.model_name)
            and (self.columns, self.rows) == (header.columns, header.rows)
            and bool(self.keep or self.blank or self.crop)
        )

    def mask(self) -> Mask:
        return Mask(
            branch="device_rule",
            keep=self.keep,
            blank=self.blank,
            crop=self.crop,
            rule_id=self.id,
            note=f"device rule {self.id or ''} for {self.manufacturer} {self.model_name}"
            f" {self.columns}x{self.rows}".replace("  ", " "),
        )


def _same(a: str, b: str) -> bool:
    return bool(a.strip()) and a.strip().casefold() == b.strip().casefold()


@dataclass
class RenderResult:
    branch: Branch
    mask: Mask
    reason: str
    outputs: dict[str, Path] = field(default_factory=dict)  # "still", "thumbnail", "clip"
    frames: int = 0
    frame_rate: Fraction | None = None
    width: int = 0
    height: int = 0
    still_frame: int = 0  # 0-based index of the frame used for the still / poster

    @property
    def publishable(self) -> bool:
        return self.branch != "needs_review" and bool(self.outputs)


def decide_mask(
    header: ImageHeader, *, rules: Sequence[DeviceRuleSpec] = (), crop: Rect | None = None
) -> Mask:
    """Regions if valid, else a matching device rule, else needs review; a staff crop wins.

    BurnedInAnnotation is never read (A4): a machine saying "no burned-in text" still gets
    masked.
    """
    check = validated_regions(header.dataset, columns=header.columns, rows=header.rows)
    if crop is not None:
        if not crop.fits(header.columns, header.rows):
            raise ImageRefused(
                f"crop box {crop} is not inside the {header.columns}x{header.rows} image"
            )
        # Valid regions stay in force under a staff crop: the crop can only take away more.
        return Mask(branch="staff_crop", keep=check.regions or (), crop=crop, note="staff crop")
    if check.regions is not None:
        return Mask(branch="regions", keep=check.regions, note=check.reason)
    for rule in rules:
        if rule.matches(header):
            return rule.mask()
    return needs_review(
        f"{check.reason}; no device rule for {header.manufacturer or '?'}"
        f" {header.model_name or '?'} {header.columns}x{header.rows}"
    )


def chosen_frame(header: ImageHeader, frame: int | None) -> int:
    """The still/poster frame: the staff's choice, else RepresentativeFrameNumber, else the
    middle frame."""
    if frame is not None:
        if not 0 <= frame < header.frames:
            raise ImageRefused(f"frame {frame} does not exist (0..{header.frames - 1})")
        return frame
    representative = header.dataset.get("RepresentativeFrameNumber")
    if isinstance(representative, int) and 1 <= representative <= header.frames:
        return representative - 1
    return header.frames // 2


def render_item(
    path: str | os.PathLike[str],
    *,
    out_dir: Path,
    settings: RenderSettings,
    rules: Sequence[DeviceRuleSpec] = (),
    frame: int | None = None,
    crop: Rect | None = None,
) -> RenderResult:
    """Render a DICOM file into `out_dir` (still.jpg, thumb.jpg, and clip.mp4 for a cine).

    Raises ImageRefused for input that cannot be rendered. Writes nothing when the result's
    branch is "needs_review".
    """
    header = read_header(path, pixel_budget=settings.pixel_budget)
    mask = decide_mask(header, rules=rules, crop=crop)
    if mask.branch == "needs_review":
        return RenderResult(branch=mask.branch, mask=mask, reason=mask.note)
    return render_with_mask(header, mask, out_dir=out_dir, settings=settings, frame=frame)


def render_with_mask(
    header: ImageHeader,
    mask: Mask,
    *,
    out_dir: Path,
    settings: RenderSettings,
    frame: int | None = None,
) -> RenderResult:
    """Render a checked DICOM header with a decided (not needs-review) mask."""
    if mask.branch == "needs_review":
        raise ValueError("an item that needs review is not rendered")
    try:
        mask.check_fits(header.columns, header.rows)
    except ValueError as exc:
        raise ImageRefused(f"{mask.note}: {exc}") from exc
    return render_frames(
        masked_frames(iter_display_frames(header), mask),
        out_dir=out_dir,
        settings=settings,
        mask=mask,
        as_clip=header.is_multiframe,
        frame_rate=header.frame_rate,
        still_frame=chosen_frame(header, frame),
    )


def masked_frames(frames: Iterable[np.ndarray], mask: Mask) -> Iterator[np.ndarray]:
    """Apply the mask to every display-space frame before it reaches an encoder (A2)."""
    for frame in frames:
        yield mask.apply(frame)


def render_frames(
    frames: Iterator[np.ndarray],
    *,
    out_dir: Path,
    settings: RenderSettings,
    mask: Mask,
    as_clip: bool,
    frame_rate: Fraction,
    still_frame: int,
) -> RenderResult:
    """Write the still, thumbnail and (`as_clip`) the clip of masked frames.

    On any failure (ImageRefused for input found broken half-way) the files written so far
    are removed again, so a refused item never leaves a partial clip.
    """
    created_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _write_outputs(
            frames,
            out_dir=out_dir,
            settings=settings,
            mask=mask,
            as_clip=as_clip,
            frame_rate=frame_rate,
            still_frame=still_frame,
        )
    except BaseException:
        for name in (STILL_NAME, THUMBNAIL_NAME, CLIP_NAME):
            (out_dir / name).unlink(missing_ok=True)
        if created_dir:
            out_dir.rmdir()
        raise


def _write_outputs(
    frames: Iterator[np.ndarray],
    *,
    out_dir: Path,
    settings: RenderSettings,
    mask: Mask,
    as_clip: bool,
    frame_rate: Fraction,
    still_frame: int,
) -> RenderResult:
    kept: list[np.ndarray] = []

    def keeping_still(source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for index, masked in enumerate(source):
            if index == still_frame:
                kept.append(masked.copy())
            yield masked

    result = RenderResult(branch=mask.branch, mask=mask, reason=mask.note, still_frame=still_frame)
    if as_clip:
        info = encode_clip(
            keeping_still(frames),
            path=out_dir / CLIP_NAME,
            frame_rate=frame_rate,
            settings=settings.clip,
        )
        result.outputs["clip"] = out_dir / CLIP_NAME
        result.frames, result.frame_rate = info.frames, info.frame_rate
    else:
        for _ in keeping_still(frames):
            pass
        result.frames = 1
    if not kept:
        raise ImageRefused("broken pixel data: the chosen frame was not decoded")
    still = kept[0]
    result.height, result.width = still.shape[:2]
    (out_dir / STILL_NAME).write_bytes(encode_jpeg(still, quality=settings.jpeg.quality))
    (out_dir / THUMBNAIL_NAME).write_bytes(
        encode_thumbnail(still, size=settings.jpeg.thumbnail_size, quality=settings.jpeg.quality)
    )
    result.outputs["still"] = out_dir / STILL_NAME
    result.outputs["thumbnail"] = out_dir / THUMBNAIL_NAME
    return result


def download_name(kind: str, number: int) -> str:
    """Generic file names for patients (A7): echo-01.jpg, echo-clip-01.mp4, echo-01-thumb.jpg."""
    names = {
        "still": f"echo-{number:02d}.jpg",
        "thumbnail": f"echo-{number:02d}-thumb.jpg",
        "clip": f"echo-clip-{number:02d}.mp4",
    }
    return names[kind]
