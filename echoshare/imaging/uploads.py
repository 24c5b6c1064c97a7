"""Media a machine exported to USB (JPEG, PNG, MP4) and staff upload: rebuilt from pixels.

Nothing of the uploaded file is passed through: stills are decoded and encoded again as a
JPEG (EXIF, XMP, ICC, comments and PNG text chunks are gone), clips are decoded and encoded
again as H.264 (audio, chapters and tags are gone).

Exported media carry no Sequence of Ultrasound Regions and no reliable machine name, yet the
screen they show usually has the patient's name burned in. So they always fail closed: an
upload is rendered only with a crop box a staff member set on its preview.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, ImageOps

from echoshare.imaging.decode import DEFAULT_FRAME_RATE, MAX_SIDE
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Mask, Rect, needs_review
from echoshare.imaging.render import RenderResult, RenderSettings, masked_frames, render_frames

UploadKind = Literal["jpeg", "png", "mp4"]
NEEDS_CROP = "exported media carry no image regions: a staff member must set a crop box"


def upload_kind(path: str | os.PathLike[str]) -> UploadKind:
    """What the file is, from its first bytes (never from its name)."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[4:8] == b"ftyp":
        return "mp4"
    raise ImageRefused("not a JPEG, PNG or MP4 file")


def render_upload(
    path: str | os.PathLike[str],
    *,
    out_dir: Path,
    settings: RenderSettings,
    crop: Rect | None = None,
) -> RenderResult:
    """Re-encode an uploaded JPEG/PNG (still + thumbnail) or MP4 (clip + still + thumbnail).

    Without `crop` nothing is written and the result's branch is "needs_review".
    """
    kind = upload_kind(path)
    if kind == "mp4":
        with _open_video(path) as container:
            stream, columns, rows, frames = _checked_video(container, settings)
            if crop is None:
                return RenderResult(
                    branch="needs_review", mask=needs_review(NEEDS_CROP), reason=NEEDS_CROP
                )
            mask = _staff_mask(crop, columns, rows)
            rate = stream.average_rate or stream.guessed_rate
            return render_frames(
                masked_frames(_video_frames(container, stream, columns, rows, settings), mask),
                out_dir=out_dir,
                settings=settings,
                mask=mask,
                as_clip=True,
                frame_rate=Fraction(rate) if rate else DEFAULT_FRAME_RATE,
                still_frame=frames // 2 if frames else 0,
            )
    image = read_upload_image(path, settings=settings)
    if crop is None:
        return RenderResult(branch="needs_review", mask=needs_review(NEEDS_CROP), reason=NEEDS_CROP)
    mask = _staff_mask(crop, image.shape[1], image.shape[0])
    return render_frames(
        masked_frames(iter([image]), mask),
        out_dir=out_dir,
        settings=settings,
        mask=mask,
        as_clip=False,
        frame_rate=DEFAULT_FRAME_RATE,
        still_frame=0,
    )


def _staff_mask(crop: Rect, columns: int, rows: int) -> Mask:
    if not crop.fits(columns, rows):
        raise ImageRefused(f"crop box {crop} is not inside the {columns}x{rows} image")
    return Mask(branch="staff_crop", crop=crop, note="staff crop")


def _check_size(columns: int, rows: int, frames: int, budget: int) -> None:
    if columns < 1 or rows < 1 or columns > MAX_SIDE or rows > MAX_SIDE:
        raise ImageRefused(f"absurd image size {columns}x{rows}")
    if columns * rows * max(frames, 1) > budget:
        raise ImageRefused(
            f"{columns}x{rows} x {max(frames, 1)} frame(s) is more than the pixel budget"
            f" of {budget:,}"
        )


def read_upload_image(path: str | os.PathLike[str], *, settings: RenderSettings) -> np.ndarray:
    """An uploaded JPEG/PNG as an RGB uint8 array, size checked before decoding (F4)."""
    try:
        with Image.open(path) as image:
            _check_size(image.width, image.height, 1, settings.pixel_budget)
            image.load()
            upright = ImageOps.exif_transpose(image)  # as the machine showed it
            return np.asarray(upright.convert("RGB"))
    except ImageRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRefused(f"decompression bomb refused: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's ways of saying "damaged"
        raise ImageRefused(f"broken image: {exc}") from exc


@contextmanager
def _open_video(path: str | os.PathLike[str]) -> Iterator[av.container.InputContainer]:
    try:
        container = av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise ImageRefused(f"broken video: {exc}") from exc
    try:
        yield container
    finally:
        container.close()


def _checked_video(
    container: av.container.InputContainer, settings: RenderSettings
) -> tuple[av.VideoStream, int, int, int]:
    if not container.streams.video:
        raise ImageRefused("the file holds no video")
    stream = container.streams.video[0]
    columns, rows = stream.codec_context.width, stream.codec_context.height
    frames = stream.frames or 0
    _check_size(columns, rows, frames, settings.pixel_budget)
    return stream, columns, rows, frames


def _video_frames(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    columns: int,
    rows: int,
    settings: RenderSettings,
) -> Iterator[np.ndarray]:
    """Decoded frames as RGB; size and budget are enforced while decoding (headers may lie)."""
    decoded = 0
    try:
        for frame in container.decode(stream):
            decoded += 1
            if (frame.width, frame.height) != (columns, rows):
                raise ImageRefused("broken video: the frame size changes within the clip")
            if decoded * columns * rows > settings.pixel_budget:
                raise ImageRefused(f"more than the pixel budget of {settings.pixel_budget:,}")
            yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise ImageRefused(f"broken video: {exc}") from exc


def first_video_frame(path: Path, *, settings: RenderSettings) -> np.ndarray:
    """The first frame of an uploaded video as RGB (for the staff preview)."""
    with _open_video(path) as container:
        stream, columns, rows, _ = _checked_video(container, settings)
        for frame in _video_frames(container, stream, columns, rows, settings):
            return frame
    raise ImageRefused("broken video: no frame decoded")
