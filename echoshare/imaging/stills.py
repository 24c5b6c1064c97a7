"""Stills: a masked display-space frame to a progressive JPEG that holds pixels and nothing else.

Pillow writes JFIF with no EXIF, XMP, ICC or comment unless asked to; `only_allowed_segments`
still removes anything else before a file leaves, so a future Pillow default cannot put
metadata into what patients get (A5). No ICC profile is embedded: a JPEG without one is
shown as sRGB, which is what the display-space frames are.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

# A5: SOI, APP0 (JFIF), DQT, SOF, DHT, DRI, SOS, EOI (and the restart markers inside scans).
ALLOWED_SEGMENTS = frozenset({"SOI", "APP0", "DQT", "SOF", "DHT", "DRI", "SOS", "EOI"})


@dataclass(frozen=True)
class JpegSettings:
    quality: int = 90
    thumbnail_size: int = 320


def encode_jpeg(frame: np.ndarray, *, quality: int) -> bytes:
    """A progressive JPEG of an RGB uint8 frame at its own resolution."""
    image = Image.fromarray(np.ascontiguousarray(frame), mode="RGB")
    return _save(image, quality=quality)


def encode_thumbnail(frame: np.ndarray, *, size: int, quality: int) -> bytes:
    """A JPEG whose longer side is at most `size` pixels (never enlarged)."""
    image = Image.fromarray(np.ascontiguousarray(frame), mode="RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return _save(image, quality=quality)


def _save(image: Image.Image, *, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, progressive=True)
    return only_allowed_segments(buffer.getvalue())


def jpeg_segments(data: bytes) -> list[str]:
    """The names of a JPEG's marker segments in order (SOFn as "SOF", APPn as "APPn")."""
    return [name for name, _, _ in _segments(data)]


def only_allowed_segments(data: bytes) -> bytes:
    """The JPEG with every segment outside ALLOWED_SEGMENTS removed."""
    kept = [data[start:end] for name, start, end in _segments(data) if name in ALLOWED_SEGMENTS]
    return b"".join(kept)


def _segments(data: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end) of each segment; a scan's entropy-coded data belongs to its SOS."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    found = [("SOI", 0, 2)]
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            found.append(("EOI", pos, pos + 2))
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if marker == 0xDA:
            end = _end_of_scan(data, end)
        found.append((_name(marker), pos, end))
        pos = end
    return found


def _end_of_scan(data: bytes, pos: int) -> int:
    """The first marker after entropy-coded data (not a stuffed 00, fill FF or restart)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or following == 0xFF or 0xD0 <= following <= 0xD7:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _name(marker: int) -> str:
    if 0xE0 <= marker <= 0xEF:
        return f"APP{marker - 0xE0}"
    if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
        return "SOF"
    return {0xC4: "DHT", 0xDB: "DQT", 0xDD: "DRI", 0xDA: "SOS", 0xFE: "COM"}.get(
        marker, f"0x{marker:02X}"
    )
