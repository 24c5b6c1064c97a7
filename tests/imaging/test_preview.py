"""Staff previews show the whole frame with what patients will see outlined."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from echoshare.imaging.masking import Rect
from echoshare.imaging.preview import KEEP_COLOUR, preview_item, preview_upload
from echoshare.imaging.render import RenderSettings

from .conftest import REGIONS, RGB, display_picture, make_ultrasound

SETTINGS = RenderSettings(pixel_budget=50_000_000)


def _is_outline(pixels: np.ndarray) -> bool:
    """Pixels of the outline colour (green), after JPEG."""
    assert KEEP_COLOUR == (0, 255, 0)
    return bool((pixels[..., 1] - np.maximum(pixels[..., 0], pixels[..., 2]) > 120).all())


def _image(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)


def test_the_preview_outlines_the_regions_and_dims_the_rest(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=3)
    preview = preview_item(path, settings=SETTINGS)
    assert preview.mask.branch == "regions" and preview.frame == 1
    shown = _image(preview.jpeg)
    assert shown.shape == (120, 160, 3)
    r = REGIONS[0]
    edge = shown[r.y0, r.x0 + 10 : r.x1 - 10]
    assert _is_outline(edge)
    # The burned-in text is still visible to staff, but dimmed.
    text_area = shown[2:12, 2:60].max()
    assert 60 < text_area < 140


def test_an_item_that_needs_review_is_shown_whole_with_its_crop_box(tmp_path: Path) -> None:
    bare = preview_item(RGB, settings=SETTINGS)
    assert bare.mask.branch == "needs_review"
    assert (bare.columns, bare.rows) == (320, 240)
    cropped = preview_item(RGB, settings=SETTINGS, crop=Rect(20, 20, 299, 219))
    assert cropped.mask.branch == "staff_crop"
    shown = _image(cropped.jpeg)
    assert _is_outline(shown[20, 40:280])
    assert not _is_outline(_image(bare.jpeg)[20, 40:280])


def test_uploads_have_previews_too(tmp_path: Path) -> None:
    Image.fromarray(display_picture()).save(tmp_path / "export.png")
    preview = preview_upload(tmp_path / "export.png", settings=SETTINGS)
    assert preview.mask.branch == "needs_review"
    assert _image(preview.jpeg).shape == (120, 160, 3)
