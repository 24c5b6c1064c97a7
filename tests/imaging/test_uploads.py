"""Exported media that staff upload: rebuilt from pixels, never passed through; without a
staff crop nothing is rendered (fail closed); bombs are refused before decoding (F4)."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Rect
from echoshare.imaging.render import RenderSettings
from echoshare.imaging.uploads import render_upload, upload_kind

from .conftest import assert_clean_jpeg, assert_clean_mp4, display_picture

SETTINGS = RenderSettings(pixel_budget=50_000_000)
FULL = Rect(0, 0, 159, 119)


def _jpeg_with_metadata(path: Path, orientation: int = 1) -> Path:
    exif = Image.Exif()
    exif[0x010E] = "CANARYFAMILY description"
    exif[0x0112] = orientation
    Image.fromarray(display_picture()).save(
        path, format="JPEG", exif=exif, comment=b"CANARYPID4711"
    )
    return path


def _mp4_with_audio_and_tags(path: Path, frames: int = 8) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        container.metadata["title"] = "CANARYFAMILY"
        container.metadata["comment"] = "CANARYPID4711"
        video = container.add_stream("libx264", rate=Fraction(20))
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(display_picture(index), format="rgb24")
            container.mux(video.encode(frame))
        samples = np.zeros((1, 1024 * 10), dtype=np.float32)
        sound = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        sound.sample_rate = 44100
        container.mux(audio.encode(sound))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path


def test_an_upload_without_a_crop_needs_review_and_writes_nothing(tmp_path: Path) -> None:
    path = _jpeg_with_metadata(tmp_path / "export.jpg")
    result = render_upload(path, out_dir=tmp_path / "out", settings=SETTINGS)
    assert result.branch == "needs_review" and not result.publishable
    assert not (tmp_path / "out").exists()


def test_an_uploaded_jpeg_is_reencoded_without_its_metadata(tmp_path: Path) -> None:
    path = _jpeg_with_metadata(tmp_path / "export.jpg")
    result = render_upload(path, out_dir=tmp_path / "out", settings=SETTINGS, crop=FULL)
    assert result.branch == "staff_crop"
    assert_clean_jpeg(result.outputs["still"])
    assert_clean_jpeg(result.outputs["thumbnail"])
    assert result.outputs["still"].read_bytes() != path.read_bytes()


def test_an_uploaded_jpeg_is_turned_upright_as_the_machine_showed_it(tmp_path: Path) -> None:
    path = _jpeg_with_metadata(tmp_path / "export.jpg", orientation=6)  # rotate 90
    result = render_upload(
        path, out_dir=tmp_path / "out", settings=SETTINGS, crop=Rect(0, 0, 119, 159)
    )
    assert (result.width, result.height) == (120, 160)


def test_an_uploaded_png_loses_its_text_chunks(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "CANARYFAMILY")
    rgba = np.dstack([display_picture(), np.full((120, 160), 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "export.png", pnginfo=info)
    result = render_upload(
        tmp_path / "export.png", out_dir=tmp_path / "out", settings=SETTINGS, crop=FULL
    )
    assert_clean_jpeg(result.outputs["still"])


def test_an_uploaded_mp4_loses_its_audio_and_tags(tmp_path: Path) -> None:
    path = _mp4_with_audio_and_tags(tmp_path / "export.mp4")
    with av.open(str(path)) as original:
        assert original.streams.audio and original.metadata.get("title") == "CANARYFAMILY"
    result = render_upload(
        path, out_dir=tmp_path / "out", settings=SETTINGS, crop=Rect(0, 0, 99, 99)
    )
    assert_clean_mp4(result.outputs["clip"])
    assert_clean_jpeg(result.outputs["still"])
    with av.open(str(result.outputs["clip"])) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 8
        assert clip.streams.video[0].average_rate == 20


def test_other_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("<html>not an image</html>")
    with pytest.raises(ImageRefused, match="not a JPEG, PNG or MP4 file"):
        upload_kind(path)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (100_000, 100_000, "decompression bomb refused"),  # Pillow's own limit raises
        (20_000, 100, "absurd image size 20000x100"),
        (4000, 4000, "more than the pixel budget of 10,000,000"),
    ],
)
def test_decompression_bombs_are_refused_before_decoding(
    tmp_path: Path, width: int, height: int, reason: str
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(width, height))
    tracemalloc.start()
    try:
        with pytest.raises(ImageRefused) as caught:
            render_upload(
                path,
                out_dir=tmp_path / "out",
                settings=RenderSettings(pixel_budget=10_000_000),
                crop=FULL,
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason in caught.value.reason
    assert peak < 20_000_000


def test_a_damaged_upload_is_refused_as_broken(tmp_path: Path) -> None:
    data = io.BytesIO()
    Image.fromarray(display_picture()).save(data, format="PNG")
    (tmp_path / "cut.png").write_bytes(data.getvalue()[:200])
    with pytest.raises(ImageRefused, match="broken image"):
        render_upload(tmp_path / "cut.png", out_dir=tmp_path / "o", settings=SETTINGS, crop=FULL)


def test_a_crop_outside_the_upload_is_refused(tmp_path: Path) -> None:
    path = _jpeg_with_metadata(tmp_path / "export.jpg")
    with pytest.raises(ImageRefused, match="not inside the 160x120 image"):
        render_upload(path, out_dir=tmp_path / "o", settings=SETTINGS, crop=Rect(0, 0, 160, 10))
