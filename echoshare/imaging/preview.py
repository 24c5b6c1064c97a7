"""Staff previews: the original frame with what the mask keeps outlined and the rest dimmed.

Staff see the unmasked frame (they may: this is the clinic tier) so that they can judge a
mask, or set a crop box on an item that needs review. The staff pages of a later issue call
these plain functions; nothing here is served to patients.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from echoshare.imaging.decode import read_display_frame, read_header
from echoshare.imaging.masking import Mask, Rect
from echoshare.imaging.render import DeviceRuleSpec, RenderSettings, chosen_frame, decide_mask
from echoshare.imaging.uploads import first_video_frame, read_upload_image, upload_kind

KEEP_COLOUR = (0, 255, 0)  # outline of what patients will see
BLANK_COLOUR = (255, 0, 0)  # outline of rectangles blanked by a rule
DIM = 0.35  # brightness left in the parts patients will not see


@dataclass(frozen=True)
class Preview:
    jpeg: bytes
    mask: Mask
    columns: int
    rows: int
    frame: int


def preview_frame(frame: np.ndarray, mask: Mask | None, *, max_size: int = 1024) -> bytes:
    """A JPEG of an unmasked RGB frame with the mask drawn on it (no mask: the bare frame)."""
    shown = frame.astype(np.float32)
    rects: list[tuple[Rect, tuple[int, int, int]]] = []
    if mask is not None and mask.branch != "needs_review":
        visible = np.zeros(frame.shape[:2], dtype=bool)
        output = mask.apply(np.full(frame.shape, 255, dtype=np.uint8))
        x0, y0 = (mask.crop.x0, mask.crop.y0) if mask.crop else (0, 0)
        visible[y0 : y0 + output.shape[0], x0 : x0 + output.shape[1]] = output[..., 0] > 0
        shown[~visible] *= DIM
        rects = [(r, KEEP_COLOUR) for r in mask.keep] + [(r, BLANK_COLOUR) for r in mask.blank]
        if mask.crop:
            rects.append((mask.crop, KEEP_COLOUR))
    image = Image.fromarray(shown.astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    for rect, colour in rects:
        draw.rectangle((rect.x0, rect.y0, rect.x1, rect.y1), outline=colour, width=width)
    image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, subsampling=0)  # sharp outlines
    return buffer.getvalue()


def preview_item(
    path: str | os.PathLike[str],
    *,
    settings: RenderSettings,
    rules: list[DeviceRuleSpec] | tuple[DeviceRuleSpec, ...] = (),
    crop: Rect | None = None,
    frame: int | None = None,
    max_size: int = 1024,
) -> Preview:
    """Preview of a DICOM item with the mask rendering would use (or none, if it needs review)."""
    header = read_header(path, pixel_budget=settings.pixel_budget)
    mask = decide_mask(header, rules=rules, crop=crop)
    index = chosen_frame(header, frame)
    pixels = read_display_frame(header, index)
    return Preview(
        jpeg=preview_frame(pixels, mask, max_size=max_size),
        mask=mask,
        columns=header.columns,
        rows=header.rows,
        frame=index,
    )


def preview_upload(
    path: str | os.PathLike[str],
    *,
    settings: RenderSettings,
    crop: Rect | None = None,
    max_size: int = 1024,
) -> Preview:
    """Preview of an uploaded JPEG/PNG, or of the first frame of an uploaded MP4."""
    if upload_kind(path) == "mp4":
        pixels = first_video_frame(Path(path), settings=settings)
    else:
        pixels = read_upload_image(path, settings=settings)
    rows, columns = pixels.shape[:2]
    mask = (
        Mask(branch="staff_crop", crop=crop, note="staff crop")
        if crop is not None and crop.fits(columns, rows)
        else Mask(branch="needs_review", note="no crop box yet")
    )
    return Preview(
        jpeg=preview_frame(pixels, mask, max_size=max_size),
        mask=mask,
        columns=columns,
        rows=rows,
        frame=0,
    )
