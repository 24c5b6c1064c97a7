"""pydicom's bundled ultrasound files: each renders, each takes the right masking branch, and
each output passes A1, A5, A6 and A7 (A3, A4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom import dcmread

from echoshare.imaging.masking import Rect
from echoshare.imaging.render import DeviceRuleSpec, RenderSettings, render_item

from .conftest import JPEG2K, PALETTE, RGB, YBR, assert_clean_jpeg, assert_clean_mp4

SETTINGS = RenderSettings(pixel_budget=50_000_000)
EXAMPLES = [
    (PALETTE, "region 1 (120,60,800,518) is not inside the 800x350 image"),
    (RGB, "no Sequence of Ultrasound Regions"),
    (YBR, "region 1 (84,31,595,414) is not inside the 320x240 image"),
    (JPEG2K, "no Sequence of Ultrasound Regions"),
]


@pytest.mark.parametrize(("path", "why"), EXAMPLES, ids=lambda v: getattr(v, "name", ""))
def test_each_example_needs_review_and_nothing_is_written(
    tmp_path: Path, path: Path, why: str
) -> None:
    result = render_item(path, out_dir=tmp_path / "out", settings=SETTINGS)
    assert result.branch == "needs_review"
    assert result.reason.startswith(why)
    assert not result.publishable
    assert not (tmp_path / "out").exists()


def test_burned_in_annotation_no_does_not_skip_masking(tmp_path: Path) -> None:
    ds = dcmread(RGB)
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp_path / "claims-no-text.dcm")
    result = render_item(tmp_path / "claims-no-text.dcm", out_dir=tmp_path / "o", settings=SETTINGS)
    assert result.branch == "needs_review"


@pytest.mark.parametrize(("path", "why"), EXAMPLES, ids=lambda v: getattr(v, "name", ""))
def test_each_example_renders_clean_outputs_with_a_staff_crop(
    tmp_path: Path, path: Path, why: str
) -> None:
    crop = Rect(20, 40, 219, 179)
    result = render_item(path, out_dir=tmp_path / "out", settings=SETTINGS, crop=crop)
    assert result.branch == "staff_crop" and result.publishable
    assert (result.width, result.height) == (200, 140)
    assert_clean_jpeg(result.outputs["still"])
    assert_clean_jpeg(result.outputs["thumbnail"])
    if path == YBR:
        assert_clean_mp4(result.outputs["clip"])
        assert result.frames == 30
    else:
        assert "clip" not in result.outputs
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in result.outputs.values()
    )


def test_a_matching_device_rule_renders_the_jpeg2000_example(tmp_path: Path) -> None:
    rule = DeviceRuleSpec(
        manufacturer="G.E. Medical Systems",
        model_name="LOGIQ 700",
        columns=640,
        rows=480,
        crop=Rect(50, 108, 589, 339),
        id=3,
    )
    result = render_item(JPEG2K, out_dir=tmp_path / "out", settings=SETTINGS, rules=[rule])
    assert result.branch == "device_rule" and result.mask.rule_id == 3
    assert (result.width, result.height) == (540, 232)
    assert_clean_jpeg(result.outputs["still"])
    # The same machine at another size (rgb_color is 320x240) is not covered by the rule.
    other = render_item(RGB, out_dir=tmp_path / "other", settings=SETTINGS, rules=[rule])
    assert other.branch == "needs_review"


def test_rendering_leaves_the_original_untouched(tmp_path: Path) -> None:
    copy = tmp_path / "original.dcm"
    shutil.copy(YBR, copy)
    before = copy.read_bytes()
    render_item(copy, out_dir=tmp_path / "out", settings=SETTINGS, crop=Rect(0, 0, 99, 99))
    assert copy.read_bytes() == before
