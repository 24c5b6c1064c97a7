"""A1: a file with a canary in every identifying header field, in private tags, in an overlay
and in the icon image sequence gives outputs that hold none of them; A7 generic names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from echoshare.imaging.decode import read_display_frame, read_header
from echoshare.imaging.render import RenderSettings, download_name, render_item

from .conftest import (
    CANARIES,
    ICON_CANARY,
    OVERLAY_CANARY,
    PRIVATE_CANARY,
    REGIONS,
    assert_clean_jpeg,
    assert_clean_mp4,
    assert_no_canary,
    dcmtk,
    display_picture,
    make_ultrasound,
)

SETTINGS = RenderSettings(pixel_budget=50_000_000)


def test_the_canary_file_really_carries_every_canary(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=2)
    data = path.read_bytes()
    for value in [*CANARIES.values(), PRIVATE_CANARY, OVERLAY_CANARY]:
        assert value.encode() in data
    assert ICON_CANARY in data
    ds = dcmread(path)
    assert ds.IconImageSequence[0].PixelData == ICON_CANARY
    assert ds[0x60003000].value[:4] == b"\xff" * 4


@pytest.mark.parametrize("frames", [1, 3])
def test_outputs_hold_no_canary(tmp_path: Path, frames: int) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=frames)
    result = render_item(path, out_dir=tmp_path / "out", settings=SETTINGS)
    assert result.branch == "regions"
    assert_clean_jpeg(result.outputs["still"])
    assert_clean_jpeg(result.outputs["thumbnail"])
    if frames > 1:
        assert_clean_mp4(result.outputs["clip"])
    for output in (tmp_path / "out").iterdir():
        assert_no_canary(output.name.encode())
        assert_no_canary(output.read_bytes())


def test_outputs_of_a_compressed_canary_file_hold_no_canary(tmp_path: Path) -> None:
    source = make_ultrasound(tmp_path / "a.dcm", frames=3)
    dcmtk("dcmcjpeg", "+eb", source, tmp_path / "b.dcm")
    result = render_item(tmp_path / "b.dcm", out_dir=tmp_path / "out", settings=SETTINGS)
    assert_clean_mp4(result.outputs["clip"])
    assert_clean_jpeg(result.outputs["still"])


def test_overlays_and_the_icon_are_never_drawn(tmp_path: Path) -> None:
    # The overlay covers the whole frame with ones: drawn, it would whiten the image.
    path = make_ultrasound(tmp_path / "a.dcm")
    frame = read_display_frame(read_header(path, pixel_budget=10**8), 0)
    assert (frame == display_picture(0)).all()
    r = REGIONS[0]
    assert frame[r.y0 : r.y1 + 1, r.x0 : r.x1 + 1].mean() < 200
    assert np.array_equal(frame.shape, (120, 160, 3))


def test_download_names_are_generic() -> None:
    assert download_name("still", 1) == "echo-01.jpg"
    assert download_name("thumbnail", 2) == "echo-02-thumb.jpg"
    assert download_name("clip", 3) == "echo-clip-03.mp4"
