"""Test factories for shares with real small files (JPEG via Pillow, H.264 MP4 via PyAV).

    share, token = make_share(password="Secret23", delete_code="AB7K")

Also used by the patient pages' tests. The files go through the same `share_create` as the
API, so they land under PORTAL_MEDIA_DIR with server-made names.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from datetime import datetime
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
from argon2 import PasswordHasher
from django.utils import timezone
from PIL import Image

from echoshare.lib.secrets import normalize_delete_code
from echoshare.portal.models import Clinic, Share
from echoshare.portal.services import ItemUpload, clinic_create, share_create

# Real argon2id hashes with the cheapest parameters: verifying reads the parameters from
# the hash, so tests run fast while the portal's code path stays the real one.
_cheap_hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

PASSWORD = "Kx7mPq4R"
DELETE_CODE = "AB7K"


def cheap_argon2_hash(secret: str) -> str:
    return _cheap_hasher.hash(secret)


@cache
def jpeg_bytes(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (90, 40, 160)
) -> bytes:
    image = Image.new("RGB", (width, height), color)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


@cache
def mp4_bytes(
    frames: int = 5, width: int = 64, height: int = 48, audio: bool = False, title: str = ""
) -> bytes:
    """A short H.264 MP4 (yuv420p, moov first); with `audio`, an AAC stream as well."""
    # +faststart rewrites the file at the end, so it needs a real file rather than memory.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        _encode_mp4(path, frames, width, height, audio, title)
        return path.read_bytes()


def _encode_mp4(path: Path, frames: int, width: int, height: int, audio: bool, title: str) -> None:
    with av.open(
        str(path), mode="w", format="mp4", options={"movflags": "+faststart"}
    ) as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        audio_stream = container.add_stream("aac", rate=8000) if audio else None
        for index in range(frames):
            pixels = np.full((height, width, 3), (index * 40) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            samples = np.zeros((1, 1024), dtype=np.float32)
            for index in range(4):
                chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                chunk.sample_rate = 8000
                chunk.pts = index * 1024
                chunk.time_base = Fraction(1, 8000)
                container.mux(audio_stream.encode(chunk))
            container.mux(audio_stream.encode(None))


def item_upload(kind: str) -> ItemUpload:
    if kind == "clip":
        return ItemUpload(
            kind="clip",
            file=io.BytesIO(mp4_bytes()),
            thumbnail=io.BytesIO(jpeg_bytes(32, 24)),
            poster=io.BytesIO(jpeg_bytes()),
        )
    return ItemUpload(
        kind="still", file=io.BytesIO(jpeg_bytes()), thumbnail=io.BytesIO(jpeg_bytes(32, 24))
    )


def make_clinic(name: str = "Echopraktijk De Linde", language: str = "nl") -> Clinic:
    return clinic_create(name=name, language=language)


def make_share(
    clinic: Clinic | None = None,
    password: str = PASSWORD,
    delete_code: str = DELETE_CODE,
    items: tuple[str, ...] = ("still", "clip"),
    expires_at: datetime | None = None,
    language: str | None = None,
) -> tuple[Share, str]:
    """A share with real files; returns it and its plaintext link token. An `expires_at` in
    the past gives a share that expired without the purge having run."""
    clinic = clinic or Clinic.objects.first() or make_clinic()
    past = expires_at is not None and expires_at <= timezone.now()
    created = share_create(
        clinic=clinic,
        idempotency_key=str(uuid.uuid4()),
        request_hash=uuid.uuid4().hex,
        password_hash=cheap_argon2_hash(password),
        delete_code_hash=cheap_argon2_hash(normalize_delete_code(delete_code)),
        items=[item_upload(kind) for kind in items],
        language=language,
        expires_at=None if past else expires_at,
    )
    if past:
        Share.objects.filter(pk=created.share.pk).update(expires_at=expires_at)
        created.share.refresh_from_db()
    return created.share, created.token
