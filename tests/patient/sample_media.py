"""Ultrasound-looking photos and a clip for the browser tests and the README screenshot.

A grey speckled fan on black, like a B-mode image, so a person looking at the screenshots
sees what a patient would. No real patient image, and no text burned in.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from functools import cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

from echoshare.lib.secrets import argon2_hash, normalize_delete_code
from echoshare.portal.models import Clinic, Share
from echoshare.portal.services import ItemUpload, share_create


def _fan(width: int, height: int, seed: int, phase: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = x - width / 2, y + height * 0.05
    radius, angle = np.hypot(dx, dy), np.arctan2(dx, dy)
    inside = (np.abs(angle) < 0.6) & (radius < height * 0.95) & (radius > height * 0.08)
    speckle = rng.gamma(2.0, 0.5, size=(height, width)).astype(np.float32)
    blob = np.exp(-(((dx - 40 * np.sin(phase)) / 90) ** 2 + ((dy - height * 0.55) / 70) ** 2))
    tissue = 60 + 50 * speckle + 120 * blob * (0.6 + 0.4 * speckle)
    gray = np.where(inside, np.clip(tissue, 0, 255), 0).astype(np.uint8)
    return np.stack([gray] * 3, axis=-1)


@cache
def photo_jpeg(seed: int, width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.fromarray(_fan(width, height, seed)).save(out, format="JPEG", quality=85)
    return out.getvalue()


@cache
def clip_mp4(frames: int = 40, width: int = 320, height: int = 240) -> bytes:
    """H.264, yuv420p, 20 frames a second, no audio, moov first (as the renderer makes it)."""
    with tempfile.TemporaryDirectory() as folder:  # +faststart rewrites the file: a real one
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=20)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index in range(frames):
                pixels = _fan(width, height, seed=index, phase=index / 6)
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return path.read_bytes()


def ultrasound_share(
    *, clinic: Clinic, password: str, delete_code: str, photos: int = 3, language: str = "nl"
) -> tuple[Share, str]:
    """A share like a real exam's: a few photos and one clip with its poster."""
    items = [
        ItemUpload(
            kind="still",
            file=io.BytesIO(photo_jpeg(seed)),
            thumbnail=io.BytesIO(photo_jpeg(seed, 240, 180)),
        )
        for seed in range(photos)
    ]
    items.append(
        ItemUpload(
            kind="clip",
            file=io.BytesIO(clip_mp4()),
            thumbnail=io.BytesIO(photo_jpeg(99, 240, 180)),
            poster=io.BytesIO(photo_jpeg(99)),
        )
    )
    created = share_create(
        clinic=clinic,
        idempotency_key=str(uuid.uuid4()),
        request_hash=uuid.uuid4().hex,
        password_hash=argon2_hash(password),
        delete_code_hash=argon2_hash(normalize_delete_code(delete_code)),
        items=items,
        language=language,
    )
    return created.share, created.token
