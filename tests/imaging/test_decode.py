"""Decoding to display space: every photometric interpretation and encoding comes out as the
RGB picture the machine showed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from echoshare.imaging.decode import (
    DEFAULT_FRAME_RATE,
    frame_rate,
    iter_display_frames,
    read_display_frame,
    read_header,
)

from .conftest import JPEG2K, PALETTE, RGB, YBR, dcmtk, display_picture, make_ultrasound

BUDGET = 50_000_000


def _expected(photometric: str, frame: int = 0) -> np.ndarray:
    picture = display_picture(frame)
    if photometric.startswith("MONOCHROME") or photometric == "PALETTE COLOR":
        grey = picture.max(axis=-1)
        return np.repeat(grey[..., None], 3, axis=-1)
    return picture


def _difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.mark.parametrize(
    ("photometric", "bits", "planar", "tolerance"),
    [
        ("MONOCHROME2", 8, 0, 0),
        ("MONOCHROME2", 16, 0, 1),
        ("MONOCHROME1", 8, 0, 0),
        ("PALETTE COLOR", 8, 0, 0),
        ("RGB", 8, 0, 0),
        ("RGB", 8, 1, 0),
        ("RGB", 16, 0, 0),
        ("YBR_FULL", 8, 0, 2),
    ],
)
def test_it_shows_each_photometric_as_the_machine_did(
    tmp_path: Path, photometric: str, bits: int, planar: int, tolerance: int
) -> None:
    path = make_ultrasound(
        tmp_path / "a.dcm", photometric=photometric, bits=bits, planar=planar, frames=2
    )
    header = read_header(path, pixel_budget=BUDGET)
    frames = list(iter_display_frames(header))
    assert len(frames) == 2
    for index, frame in enumerate(frames):
        assert frame.dtype == np.uint8 and frame.shape == (120, 160, 3)
        assert _difference(frame, _expected(photometric, index)) <= tolerance


def test_it_shows_ybr_full_422_with_only_chroma_subsampling_error(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", photometric="YBR_FULL_422")
    frame = read_display_frame(read_header(path, pixel_budget=BUDGET), 0)
    expected = _expected("YBR_FULL_422")
    # Luma is exact; colour is shared by two pixels, so only edges differ noticeably.
    assert np.median(np.abs(frame.astype(int) - expected.astype(int))) <= 1
    assert _difference(frame.max(axis=-1), expected.max(axis=-1)) < 100


@pytest.mark.parametrize(
    ("tool", "option", "photometric", "tolerance"),
    [
        ("dcmcrle", None, "RGB", 0),
        ("dcmcjpls", None, "RGB", 0),
        ("dcmcjpeg", "+el", "RGB", 0),
        ("dcmcjpeg", "+eb", "RGB", None),  # lossy: only the mean error is bounded
    ],
)
def test_it_decodes_the_compressed_transfer_syntaxes(
    tmp_path: Path, tool: str, option: str | None, photometric: str, tolerance: int | None
) -> None:
    source = make_ultrasound(tmp_path / "a.dcm", photometric=photometric, frames=3)
    compressed = tmp_path / "b.dcm"
    dcmtk(tool, *([option] if option else []), source, compressed)
    header = read_header(compressed, pixel_budget=BUDGET)
    assert header.encapsulated
    frames = list(iter_display_frames(header))
    assert len(frames) == 3
    expected = _expected(photometric, 2)
    if tolerance is not None:
        assert _difference(frames[2], expected) <= tolerance
    assert np.abs(frames[2].astype(int) - expected.astype(int)).mean() < 3


def test_it_decodes_lossy_monochrome_jpeg_like_pydicom(tmp_path: Path) -> None:
    # dcmcjpeg stretches the grey range when it compresses, so compare with pydicom's decode.
    source = make_ultrasound(tmp_path / "a.dcm", photometric="MONOCHROME2", frames=2)
    dcmtk("dcmcjpeg", "+eb", source, tmp_path / "b.dcm")
    ours = list(iter_display_frames(read_header(tmp_path / "b.dcm", pixel_budget=BUDGET)))
    theirs = dcmread(tmp_path / "b.dcm").pixel_array
    for frame, reference in zip(ours, theirs, strict=True):
        assert _difference(frame, np.repeat(reference[..., None], 3, axis=-1)) == 0


def test_it_decodes_jpeg_baseline_cines_in_ffmpeg_like_pydicom_does(tmp_path: Path) -> None:
    header = read_header(YBR, pixel_budget=BUDGET)
    ours = list(iter_display_frames(header))
    theirs = dcmread(YBR).pixel_array  # pydicom, converted to RGB
    assert len(ours) == 30
    for frame, reference in zip(ours, theirs, strict=True):
        assert np.abs(frame.astype(int) - reference.astype(int)).mean() < 1.5


def test_it_reads_only_the_frames_asked_for(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=5)
    header = read_header(path, pixel_budget=BUDGET)
    (frame,) = iter_display_frames(header, indices=[3])
    assert _difference(frame, display_picture(3)) == 0


@pytest.mark.parametrize("path", [PALETTE, RGB, YBR, JPEG2K], ids=lambda p: p.name)
def test_it_decodes_pydicoms_ultrasound_examples(path: Path) -> None:
    header = read_header(path, pixel_budget=BUDGET)
    frame = read_display_frame(header, header.frames // 2)
    assert frame.shape == (header.rows, header.columns, 3)
    assert 5 < frame.mean() < 200  # a picture, not a blank or a saturated screen


def test_it_applies_the_palette_of_the_palette_example() -> None:
    ds = dcmread(PALETTE)
    from pydicom.pixels import apply_color_lut

    reference = apply_color_lut(ds.pixel_array, ds)
    reference8 = (reference >> 8).astype(np.uint8) if reference.dtype != np.uint8 else reference
    ours = read_display_frame(read_header(PALETTE, pixel_budget=BUDGET), 0)
    assert _difference(ours, reference8) <= 1


def test_it_reads_the_frame_rate_from_cine_rate_then_frame_time_then_vector() -> None:
    ds = dcmread(YBR, stop_before_pixels=True)
    ds.CineRate = 24
    assert frame_rate(ds) == 24
    del ds.CineRate
    ds.FrameTime = 33.333
    assert frame_rate(ds) == 30
    del ds.FrameTime
    ds.FrameTimeVector = [0, 20, 20, 20]
    assert frame_rate(ds) == 50
    ds.FrameTimeVector = [0, 0.001, 0.001]  # 1,000,000 fps is not a real cine
    assert frame_rate(ds) == DEFAULT_FRAME_RATE
    del ds.FrameTimeVector
    ds.RecommendedDisplayFrameRate = 15
    assert frame_rate(ds) == Fraction(15)
