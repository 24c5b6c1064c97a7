"""What to keep of a frame: the Mask type and how it is applied to display-space frames.

A mask is decided once per item (regions, device rule or staff crop, see render.py) and then
applied to every frame, after conversion to RGB, so that "blank" always means black on the
screen whatever the photometric interpretation of the input was (A2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Branch = Literal["regions", "device_rule", "staff_crop", "needs_review"]


@dataclass(frozen=True, order=True)
class Rect:
    """An inclusive pixel rectangle, as DICOM writes regions: x0..x1, y0..y1 are all inside."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def parse(cls, text: str) -> Rect:
        """Read `x0,y0,x1,y1` (the form staff and the render command use)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise ValueError(f"expected x0,y0,x1,y1 as four whole numbers, got {text!r}")
        x0, y0, x1, y1 = (int(p) for p in parts)
        return cls(x0, y0, x1, y1)

    @property
    def width(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def height(self) -> int:
        return self.y1 - self.y0 + 1

    def is_ordered(self) -> bool:
        return 0 <= self.x0 < self.x1 and 0 <= self.y0 < self.y1

    def fits(self, columns: int, rows: int) -> bool:
        return self.is_ordered() and self.x1 < columns and self.y1 < rows

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    def __str__(self) -> str:
        return f"{self.x0},{self.y0},{self.x1},{self.y1}"


@dataclass(frozen=True)
class Mask:
    """Keep only the union of `keep` (when given), blank `blank`, then cut out `crop`.

    `keep` empty means "keep everything not blanked". The output of a mask with a crop box
    is the crop box itself, made even-sized for H.264 by dropping a last row or column
    (dropping never reveals anything).
    """

    branch: Branch
    keep: tuple[Rect, ...] = ()
    blank: tuple[Rect, ...] = ()
    crop: Rect | None = None
    rule_id: int | None = None
    note: str = ""
    _cache: dict[tuple[int, ...], np.ndarray | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def key(self) -> str:
        """A canonical text of what the mask does (part of the render cache key)."""
        return json.dumps(
            {
                "keep": [r.as_list() for r in sorted(self.keep)],
                "blank": [r.as_list() for r in sorted(self.blank)],
                "crop": self.crop.as_list() if self.crop else None,
            },
            separators=(",", ":"),
        )

    def check_fits(self, columns: int, rows: int) -> None:
        """Raise ValueError unless every rectangle lies inside a columns x rows frame."""
        for rect in (*self.keep, *self.blank, *([self.crop] if self.crop else [])):
            if not rect.fits(columns, rows):
                raise ValueError(f"rectangle {rect} is not inside the {columns}x{rows} image")

    def output_size(self, columns: int, rows: int) -> tuple[int, int]:
        """Width and height of the masked frame (even, for H.264 and phones)."""
        width, height = (self.crop.width, self.crop.height) if self.crop else (columns, rows)
        return width - width % 2, height - height % 2

    def _blank_map(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """Boolean map (of the frame's full shape) of the values to blank, or None when every
        pixel survives. Full shape, channels included: indexing with it is ten times faster
        than with a rows x columns map."""
        if shape not in self._cache:
            blank_map: np.ndarray | None = None
            if self.keep or self.blank:
                keep_map = np.zeros(shape[:2], dtype=bool) if self.keep else None
                if keep_map is None:
                    keep_map = np.ones(shape[:2], dtype=bool)
                for r in self.keep:
                    keep_map[r.y0 : r.y1 + 1, r.x0 : r.x1 + 1] = True
                for r in self.blank:
                    keep_map[r.y0 : r.y1 + 1, r.x0 : r.x1 + 1] = False
                blank_map = np.broadcast_to(~keep_map[:, :, None], shape).copy()
            self._cache[shape] = blank_map
        return self._cache[shape]

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Mask one display-space RGB frame (rows x columns x 3, uint8).

        Blanking writes into `frame` when it is writable; the result is the cropped view.
        """
        rows, columns = frame.shape[:2]
        blank_map = self._blank_map(frame.shape)
        if blank_map is not None:
            if not frame.flags.writeable:
                frame = frame.copy()
            frame[blank_map] = 0
        width, height = self.output_size(columns, rows)
        x0, y0 = (self.crop.x0, self.crop.y0) if self.crop else (0, 0)
        return frame[y0 : y0 + height, x0 : x0 + width]

    def describe(self) -> str:
        """One line for staff and the render command."""
        parts = []
        if self.keep:
            parts.append("keep " + " + ".join(str(r) for r in self.keep))
        if self.blank:
            parts.append("blank " + " + ".join(str(r) for r in self.blank))
        if self.crop:
            parts.append(f"crop {self.crop}")
        return "; ".join(parts) or "nothing"


def needs_review(note: str) -> Mask:
    """The fail-closed outcome: nothing may be rendered until staff set a crop box."""
    return Mask(branch="needs_review", note=note)
