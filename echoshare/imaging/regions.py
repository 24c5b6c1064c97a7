"""Validation of the Sequence of Ultrasound Regions: the only header data trusted for masking.

A machine that fills the sequence tells where its clinical image areas are; everything else
on the screen (names, dates, the clinic, measurements) may be burned-in text. A region set
is used only when every region is plausible; one bad region makes the whole sequence count
as absent (never clamped), because a machine that writes one wrong rectangle may have
written the others wrong too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from echoshare.imaging.masking import Rect


@dataclass(frozen=True)
class RegionCheck:
    """The validated regions, or None with the reason they were not used."""

    regions: tuple[Rect, ...] | None
    reason: str


def _region_rect(item: Dataset) -> Rect | None:
    values = [
        item.get(keyword)
        for keyword in (
            "RegionLocationMinX0",
            "RegionLocationMinY0",
            "RegionLocationMaxX1",
            "RegionLocationMaxY1",
        )
    ]
    if not all(isinstance(v, int) for v in values):
        return None
    x0, y0, x1, y1 = (int(v) for v in values)
    return Rect(x0, y0, x1, y1)


def validated_regions(ds: Dataset, *, columns: int, rows: int) -> RegionCheck:
    """Check the dataset's Sequence of Ultrasound Regions against a columns x rows image.

    Valid only when there is at least one region, each has all four coordinates, each is
    non-empty with ordered coordinates (Min < Max), each lies inside the image
    (Max < Columns/Rows), and together they do not cover the whole frame (a "region" that
    is the whole screen keeps the burned-in text too).
    """
    sequence = ds.get("SequenceOfUltrasoundRegions")
    if not sequence:
        return RegionCheck(None, "no Sequence of Ultrasound Regions")
    rects = []
    for number, item in enumerate(sequence, start=1):
        rect = _region_rect(item)
        if rect is None:
            return RegionCheck(None, f"region {number} lacks coordinates")
        if not rect.is_ordered():
            return RegionCheck(None, f"region {number} ({rect}) is empty or not ordered")
        if not rect.fits(columns, rows):
            return RegionCheck(
                None, f"region {number} ({rect}) is not inside the {columns}x{rows} image"
            )
        rects.append(rect)
    if _covers_frame(rects, columns=columns, rows=rows):
        return RegionCheck(None, "the regions cover the whole frame")
    return RegionCheck(tuple(rects), f"{len(rects)} valid region(s)")


def _covers_frame(rects: list[Rect], *, columns: int, rows: int) -> bool:
    # Called after the header checks, so rows x columns is within the pixel budget.
    area = np.zeros((rows, columns), dtype=bool)
    for r in rects:
        area[r.y0 : r.y1 + 1, r.x0 : r.x1 + 1] = True
    return bool(area.all())
