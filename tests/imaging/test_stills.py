"""Stills: progressive JPEG at the image's own size with only the A5 segments; thumbnails."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from echoshare.imaging.stills import (
    encode_jpeg,
    encode_thumbnail,
    jpeg_segments,
    only_allowed_segments,
)


def _frame(width: int, height: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=-1).astype(np.uint8)


def test_a_still_is_progressive_at_its_own_size_with_only_allowed_segments() -> None:
    data = encode_jpeg(_frame(641, 479), quality=90)
    image = Image.open(io.BytesIO(data))
    assert image.size == (641, 479)
    assert image.info.get("progressive") or image.info.get("progression")
    assert set(jpeg_segments(data)) <= {"SOI", "APP0", "DQT", "SOF", "DHT", "SOS", "EOI"}
    assert "icc_profile" not in image.info and "exif" not in image.info


def test_quality_is_the_setting() -> None:
    frame = _frame(320, 240)
    assert len(encode_jpeg(frame, quality=60)) < len(encode_jpeg(frame, quality=95))


def test_thumbnails_fit_the_size_and_are_never_enlarged() -> None:
    big = Image.open(io.BytesIO(encode_thumbnail(_frame(800, 600), size=320, quality=90)))
    assert big.size == (320, 240)
    small = Image.open(io.BytesIO(encode_thumbnail(_frame(100, 50), size=320, quality=90)))
    assert small.size == (100, 50)


def test_metadata_segments_are_removed_and_the_picture_kept() -> None:
    image = Image.fromarray(_frame(64, 48))
    exif = Image.Exif()
    exif[0x010E] = "CANARY DESCRIPTION"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, comment=b"CANARY COMMENT", icc_profile=b"\0" * 200)
    dirty = buffer.getvalue()
    assert {"APP1", "APP2", "COM"} <= set(jpeg_segments(dirty))
    clean = only_allowed_segments(dirty)
    assert set(jpeg_segments(clean)) == {"SOI", "APP0", "DQT", "SOF", "DHT", "SOS", "EOI"}
    assert b"CANARY" not in clean
    before = np.asarray(Image.open(io.BytesIO(dirty)))
    after = np.asarray(Image.open(io.BytesIO(clean)))
    assert (before == after).all()
