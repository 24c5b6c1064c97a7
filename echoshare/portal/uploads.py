"""Checking uploaded items by their content (SECURITY F4), never by name or declared type.

A JPEG must decode completely with Pillow, whose decompression-bomb limit raises. An MP4
must be an MP4 container with one H.264 video stream, no audio, all its samples present,
and a first frame that decodes. Every refusal is an `UploadError` with a precise status.
"""

from __future__ import annotations

import re
import struct
from typing import IO

import av
from PIL import Image, UnidentifiedImageError

JPEG_MAGIC = b"\xff\xd8\xff"
_MAX_VIDEO_PIXELS = 4096 * 4096
# Segments a clean JPEG may hold before its image data (SECURITY A5): APP0 (JFIF), DQT,
# SOFn, DHT, DRI. APP1..APP15 (EXIF, XMP, ICC, ...) and COM can carry personal data.
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4 DHT, C8 reserved, CC DAC
_JPEG_ALLOWED = {0xE0, 0xDB, 0xC4, 0xDD} | _JPEG_SOF
_MP4_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
_MP4_STREAM_TAGS = {"language", "handler_name", "vendor_id", "encoder"}
_MP4_HANDLERS = {"VideoHandler", "Core Media Video"}
_ENCODER = re.compile(r"^Lav[fc][0-9.]+( libx264)?$")


class UploadError(Exception):
    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


def _head(file: IO[bytes], size: int) -> bytes:
    file.seek(0)
    head = file.read(size)
    file.seek(0)
    return head


def sniff(file: IO[bytes]) -> str | None:
    """'jpeg', 'mp4' or None, from the first bytes."""
    head = _head(file, 12)
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "mp4"
    return None


def check_size(file: IO[bytes], *, max_bytes: int, field: str) -> None:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    if size == 0:
        raise UploadError("empty_file", f"{field}: the file is empty", 422)
    if size > max_bytes:
        raise UploadError("file_too_large", f"{field}: larger than {max_bytes} bytes", 413)


def check_jpeg(file: IO[bytes], *, field: str) -> None:
    if sniff(file) != "jpeg":
        raise UploadError("unsupported_type", f"{field}: not a JPEG image", 415)
    try:
        with Image.open(file, formats=["JPEG"]) as image:
            # open() raises above twice the limit; between one and two times it only warns.
            if image.width * image.height > (Image.MAX_IMAGE_PIXELS or 0):
                raise Image.DecompressionBombError("image exceeds the pixel limit")
            image.load()
        _check_jpeg_segments(file, field)
    except Image.DecompressionBombError as exc:
        raise UploadError("image_too_large", f"{field}: {exc}", 413) from exc
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        raise UploadError(
            "corrupt_file", f"{field}: the JPEG does not decode ({exc})", 422
        ) from exc
    finally:
        file.seek(0)


def _check_jpeg_segments(file: IO[bytes], field: str) -> None:
    """Walk the markers up to the image data; refuse metadata segments."""
    broken = UploadError("corrupt_file", f"{field}: broken JPEG marker structure", 422)
    file.seek(2)
    while True:
        if file.read(1) != b"\xff":
            raise broken
        code = file.read(1)
        while code == b"\xff":  # fill bytes may pad a marker
            code = file.read(1)
        if not code:
            raise broken
        if code[0] == 0xDA:  # start of scan: the image data follows
            return
        if code[0] not in _JPEG_ALLOWED:
            raise UploadError(
                "metadata_not_allowed", f"{field}: JPEG segment 0x{code[0]:02X} not allowed", 422
            )
        length = file.read(2)
        if len(length) < 2 or struct.unpack(">H", length)[0] < 2:
            raise broken
        file.seek(struct.unpack(">H", length)[0] - 2, 1)


def _check_mp4_tags(container: av.container.InputContainer, field: str) -> None:
    """Only the brand fields and FFmpeg's encoder tag (SECURITY A6): no title, creation
    time, location or any other tag that could carry personal data."""
    for stream in container.streams:
        tags = dict(stream.metadata)
        if set(tags) - _MP4_STREAM_TAGS or tags.get("handler_name", "VideoHandler") not in (
            _MP4_HANDLERS
        ):
            raise UploadError("metadata_not_allowed", f"{field}: MP4 stream tags not allowed", 422)
    tags = dict(container.metadata)
    encoders = [tags.get("encoder"), *(dict(s.metadata).get("encoder") for s in container.streams)]
    if set(tags) - _MP4_TAGS or not all(_ENCODER.match(e) for e in encoders if e is not None):
        raise UploadError("metadata_not_allowed", f"{field}: MP4 tags not allowed", 422)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_PIXELS = 4096 * 4096


def check_logo(file: IO[bytes]) -> str:
    """A clinic logo: a PNG or JPEG that decodes, at most 2 MB and 16 megapixels.
    Returns the file suffix to store it under."""
    check_size(file, max_bytes=LOGO_MAX_BYTES, field="logo")
    head = _head(file, 8)
    kind = "PNG" if head == PNG_MAGIC else "JPEG" if head.startswith(JPEG_MAGIC) else None
    if kind is None:
        raise UploadError("unsupported_type", "logo: a PNG or JPEG image", 415)
    try:
        with Image.open(file, formats=[kind]) as image:
            if image.width * image.height > LOGO_MAX_PIXELS:
                raise Image.DecompressionBombError("logo: too many pixels")
            image.load()
    except Image.DecompressionBombError as exc:
        raise UploadError("image_too_large", str(exc), 413) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadError("corrupt_file", f"logo: does not decode ({exc})", 422) from exc
    finally:
        file.seek(0)
    return ".png" if kind == "PNG" else ".jpg"


def check_mp4(file: IO[bytes], *, field: str) -> None:
    if sniff(file) != "mp4":
        raise UploadError("unsupported_type", f"{field}: not an MP4 video", 415)
    try:
        with av.open(file, mode="r", format="mp4") as container:
            _check_streams(container, field)
            _check_mp4_tags(container, field)
            _check_samples(container, field)
    except (av.FFmpegError, ValueError, OverflowError, IndexError) as exc:
        # ValueError includes UnicodeDecodeError: PyAV decodes damaged tags as UTF-8.
        raise UploadError("corrupt_file", f"{field}: the MP4 does not decode", 422) from exc
    finally:
        file.seek(0)


def _check_streams(container: av.container.InputContainer, field: str) -> None:
    if container.streams.audio:
        raise UploadError("audio_not_allowed", f"{field}: the MP4 has an audio stream", 422)
    if container.streams.subtitles or len(container.streams.video) != 1:
        raise UploadError("unsupported_type", f"{field}: the MP4 must hold one video stream", 415)
    video = container.streams.video[0]
    if video.codec_context is None or video.codec_context.name != "h264":
        raise UploadError("unsupported_type", f"{field}: the video must be H.264", 415)
    if video.width * video.height > _MAX_VIDEO_PIXELS or not video.width:
        raise UploadError("image_too_large", f"{field}: video frame size out of range", 413)


def _check_samples(container: av.container.InputContainer, field: str) -> None:
    """Every sample the index announces must be present; the first frame must decode."""
    video = container.streams.video[0]
    packets = 0
    decoded = False
    for packet in container.demux(video):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        packets += 1
        if not decoded:
            decoded = bool(packet.decode())
    if not decoded:
        # The decoder may hold frames back until it is flushed.
        decoded = bool(video.codec_context.decode(None))
    if packets == 0 or not decoded:
        raise UploadError("corrupt_file", f"{field}: no video frame decodes", 422)
    if video.frames and packets < video.frames:
        raise UploadError("corrupt_file", f"{field}: the MP4 is truncated", 422)
