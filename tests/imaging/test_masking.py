"""A2: with validated regions, every pixel outside their union is black in every masked frame
(display space, checked before encoding) and near-black in the JPEG and MP4 made from them,
whatever the photometric interpretation; masks from device rules and staff crops hold too."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from echoshare.imaging.decode import iter_display_frames, read_header
from echoshare.imaging.masking import Mask, Rect
from echoshare.imaging.render import (
    DeviceRuleSpec,
    RenderSettings,
    decide_mask,
    masked_frames,
    render_item,
)

from .conftest import (
    COLUMNS,
    REGIONS,
    ROWS,
    dcmtk,
    display_picture,
    far_outside_regions,
    make_ultrasound,
    outside_regions,
)

SETTINGS = RenderSettings(pixel_budget=50_000_000)
CASES = [
    ("MONOCHROME1", 8, 0),
    ("MONOCHROME2", 8, 0),
    ("MONOCHROME2", 16, 0),
    ("RGB", 8, 0),
    ("RGB", 8, 1),
    ("RGB", 16, 0),
    ("YBR_FULL", 8, 0),
    ("YBR_FULL_422", 8, 0),
    ("PALETTE COLOR", 8, 0),
]


def _decoded_clip(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _decoded_jpeg(path: Path) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))


def _check_file(path: Path, tmp_path: Path) -> None:
    header = read_header(path, pixel_budget=SETTINGS.pixel_budget)
    mask = decide_mask(header)
    assert mask.branch == "regions"
    outside = outside_regions()
    count = 0
    for index, frame in enumerate(masked_frames(iter_display_frames(header), mask)):
        count += 1
        assert frame.shape == (ROWS, COLUMNS, 3)
        assert not frame[outside].any(), f"frame {index}: a pixel outside the regions is not black"
        # The clinical image itself is still there.
        assert frame[~outside].mean() > 60
    assert count == header.frames

    result = render_item(path, out_dir=tmp_path / "out", settings=SETTINGS)
    assert result.branch == "regions"
    still = _decoded_jpeg(result.outputs["still"])
    assert still[far_outside_regions(4)].max() <= 16
    clip = _decoded_clip(result.outputs["clip"])
    assert len(clip) == header.frames
    for frame in clip:
        assert frame[far_outside_regions(8)].max() <= 24
        assert frame[~outside].mean() > 60


@pytest.mark.parametrize(("photometric", "bits", "planar"), CASES)
def test_everything_outside_the_regions_is_black(
    tmp_path: Path, photometric: str, bits: int, planar: int
) -> None:
    path = make_ultrasound(
        tmp_path / "a.dcm", photometric=photometric, bits=bits, planar=planar, frames=4
    )
    # The burned-in text really is there before masking.
    picture = next(iter_display_frames(read_header(path, pixel_budget=10**8)))
    assert picture[outside_regions()].max() >= 250
    _check_file(path, tmp_path)


@pytest.mark.parametrize(("tool", "option"), [("dcmcjpeg", "+eb"), ("dcmcrle", None)])
def test_everything_outside_the_regions_is_black_for_compressed_cines(
    tmp_path: Path, tool: str, option: str | None
) -> None:
    source = make_ultrasound(tmp_path / "a.dcm", photometric="RGB", frames=4)
    dcmtk(tool, *([option] if option else []), source, tmp_path / "b.dcm")
    _check_file(tmp_path / "b.dcm", tmp_path)


def test_a_device_rule_blanks_its_rectangles_and_crops(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=2, regions=None)
    rule = DeviceRuleSpec(
        manufacturer="ECHOSHARE TEST ",  # case and outer spaces do not matter
        model_name="synthetic 1",
        columns=COLUMNS,
        rows=ROWS,
        blank=(Rect(20, 24, 39, 43),),
        crop=Rect(10, 20, 149, 99),
        id=7,
    )
    header = read_header(path, pixel_budget=10**8)
    mask = decide_mask(header, rules=[rule])
    assert (mask.branch, mask.rule_id) == ("device_rule", 7)
    frames = list(masked_frames(iter_display_frames(header), mask))
    assert frames[0].shape == (80, 140, 3)
    assert not frames[0][4:24, 10:30].any()  # the blanked rectangle, in crop coordinates
    expected = display_picture(0)[20:100, 10:150]
    assert (frames[0][40:, :] == expected[40:, :]).all()


def test_a_device_rule_never_applies_to_another_image_size(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", regions=None)
    rule = DeviceRuleSpec(
        manufacturer="Echoshare Test",
        model_name="Synthetic 1",
        columns=COLUMNS + 2,
        rows=ROWS,
        crop=Rect(0, 0, 10, 10),
    )
    assert decide_mask(read_header(path, pixel_budget=10**8), rules=[rule]).branch == (
        "needs_review"
    )


def test_a_staff_crop_keeps_valid_regions_in_force(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm")
    header = read_header(path, pixel_budget=10**8)
    mask = decide_mask(header, crop=Rect(0, 0, 159, 99))
    assert mask.branch == "staff_crop"
    (frame,) = masked_frames(iter_display_frames(header), mask)
    assert frame.shape == (100, 160, 3)
    assert not frame[outside_regions()[:100]].any()


def test_masks_make_even_sizes_by_dropping_a_row_or_column() -> None:
    mask = Mask(branch="staff_crop", crop=Rect(1, 1, 10, 6))
    frame = np.full((20, 20, 3), 200, dtype=np.uint8)
    assert mask.apply(frame).shape == (6, 10, 3)
    odd = Mask(branch="staff_crop", crop=Rect(1, 1, 11, 7))
    assert odd.apply(frame).shape == (6, 10, 3)


def test_regions_outline_what_the_test_picture_draws() -> None:
    # Guards the fixture itself: text lies outside REGIONS, the image inside.
    picture = display_picture(0)
    for r in REGIONS:
        assert picture[r.y0 : r.y1 + 1, r.x0 : r.x1 + 1].min() >= 40
