"""Input rendering refuses, with a reason staff can read, before decoding a pixel (F1, F4)."""

from __future__ import annotations

import random
import struct
import tracemalloc
from pathlib import Path

import pytest
from pydicom import dcmread

from echoshare.imaging.decode import iter_display_frames, read_header
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.render import RenderSettings, render_item

from .conftest import dcmtk, make_ultrasound

BUDGET = 50_000_000


def _refusal(path: Path, budget: int = BUDGET) -> str:
    with pytest.raises(ImageRefused) as caught:
        header = read_header(path, pixel_budget=budget)
        for _ in iter_display_frames(header):
            pass
    return caught.value.reason


def _with_header(tmp_path: Path, **values: object) -> Path:
    source = make_ultrasound(tmp_path / "source.dcm", canaries=False)
    ds = dcmread(source)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path = tmp_path / "changed.dcm"
    ds.save_as(path)
    return path


def test_absurd_dimensions_are_refused_without_allocating_them(tmp_path: Path) -> None:
    path = _with_header(tmp_path, Rows=65535, Columns=65535, NumberOfFrames=1000)
    tracemalloc.start()
    try:
        reason = _refusal(path, budget=10**15)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "absurd image size 65535x65535" in reason
    assert peak < 20_000_000


def test_more_pixels_than_the_budget_are_refused_from_the_header(tmp_path: Path) -> None:
    path = _with_header(tmp_path, Rows=600, Columns=800, NumberOfFrames=2000)
    reason = _refusal(path, budget=500_000_000)
    assert "more than the budget of 500,000,000" in reason
    assert "800x600 x 2000 frame(s)" in reason


def test_pixel_data_shorter_than_the_header_promises_is_refused(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    assert _refusal(path).startswith("broken pixel data: ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a DICOM file"),
        (random.Random(1).randbytes(4096), "not a DICOM file"),
        (b"\0" * 128 + b"DICM" + random.Random(2).randbytes(2000), "the file has no transfer"),
    ],
    ids=["empty", "random", "garbage-after-preamble"],
)
def test_files_that_are_not_dicom_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(content)
    assert _refusal(path).startswith(reason)


def test_a_file_without_pixel_data_is_refused(tmp_path: Path) -> None:
    ds = dcmread(make_ultrasound(tmp_path / "a.dcm"))
    del ds.PixelData
    ds.save_as(tmp_path / "b.dcm")
    assert _refusal(tmp_path / "b.dcm") == "the file holds no image (no Pixel Data)"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"BitsAllocated": 32, "BitsStored": 32}, "unsupported bit depth 32/32"),
        ({"PhotometricInterpretation": "HSV"}, "unsupported photometric interpretation 'HSV'"),
        ({"Rows": 0}, "absurd image size 160x0, 1 frame(s)"),
    ],
)
def test_headers_it_cannot_render_are_refused(
    tmp_path: Path, values: dict[str, object], reason: str
) -> None:
    assert _refusal(_with_header(tmp_path, **values)) == reason


def test_a_jpeg_frame_declaring_a_larger_size_than_the_header_is_refused(tmp_path: Path) -> None:
    source = make_ultrasound(tmp_path / "a.dcm", frames=2, canaries=False)
    dcmtk("dcmcjpeg", "+eb", source, tmp_path / "b.dcm")
    data = bytearray((tmp_path / "b.dcm").read_bytes())
    sof = data.index(b"\xff\xc0")  # the first frame's SOF0: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    (tmp_path / "c.dcm").write_bytes(bytes(data))
    tracemalloc.start()
    try:
        reason = _refusal(tmp_path / "c.dcm")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason == "broken pixel data: frame 1 is 60000x60000, the header says 160x120"
    assert peak < 20_000_000


def test_damaged_compressed_frames_are_refused_as_broken(tmp_path: Path) -> None:
    source = make_ultrasound(tmp_path / "a.dcm", frames=2, canaries=False)
    dcmtk("dcmcrle", source, tmp_path / "b.dcm")
    data = (tmp_path / "b.dcm").read_bytes()
    (tmp_path / "c.dcm").write_bytes(data[: len(data) - 3000])  # cut off in the last frame
    assert _refusal(tmp_path / "c.dcm").startswith("broken pixel data")


def test_render_writes_nothing_for_refused_input(tmp_path: Path) -> None:
    path = _with_header(tmp_path, Rows=600, Columns=800, NumberOfFrames=2000)
    out = tmp_path / "out"
    with pytest.raises(ImageRefused):
        render_item(path, out_dir=out, settings=RenderSettings(pixel_budget=1_000_000))
    assert not out.exists()


def test_a_cine_found_broken_half_way_leaves_no_partial_clip(tmp_path: Path) -> None:
    source = make_ultrasound(tmp_path / "a.dcm", frames=6, canaries=False)
    dcmtk("dcmcjpeg", "+eb", source, tmp_path / "b.dcm")
    data = (tmp_path / "b.dcm").read_bytes()
    (tmp_path / "c.dcm").write_bytes(data[: len(data) * 2 // 3])  # frames 5 and 6 are gone
    out = tmp_path / "out"
    with pytest.raises(ImageRefused, match="broken pixel data"):
        render_item(tmp_path / "c.dcm", out_dir=out, settings=RenderSettings())
    assert not out.exists()
