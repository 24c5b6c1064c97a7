"""The demo's content: fixed crops that leave out burned-in text, and a share published
through the portal's real HTTP API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from echoshare.core import demo_content
from echoshare.lib.secrets import argon2_verify
from echoshare.portal.models import Share


def test_each_demo_crop_fits_its_image_and_is_smaller_than_it() -> None:
    for name, crop in demo_content.DEMO_CROPS.items():
        dataset = demo_content.demo_datasets()[name]
        assert crop.fits(dataset.Columns, dataset.Rows), name
        # A crop as big as the image would keep the burned-in text along its edges.
        assert crop.width < dataset.Columns and crop.height < dataset.Rows, name


def test_the_demo_items_render_as_cropped_stills_and_one_clip(tmp_path: Path) -> None:
    rendered = dict(demo_content.render_demo_items(tmp_path))
    assert set(rendered) == set(demo_content.DEMO_CROPS)
    assert [name for name, r in rendered.items() if "clip" in r.outputs] == ["ybr_color"]
    for name, result in rendered.items():
        crop = demo_content.DEMO_CROPS[name]
        assert result.branch == "staff_crop"
        still = np.asarray(Image.open(result.outputs["still"]).convert("RGB"))
        # Only the cropped box is published (even-sized for H.264, never larger).
        assert crop.width - 1 <= still.shape[1] <= crop.width, name
        assert crop.height - 1 <= still.shape[0] <= crop.height, name


def test_the_top_rows_with_text_of_rgb_color_are_not_in_its_still() -> None:
    """rgb_color has "BAPTIST MED CTR" in its top rows: the still starts below them."""
    text_rows = np.asarray(demo_content.demo_datasets()["rgb_color"].pixel_array)[0:40]
    assert text_rows.max() > 200  # the burned-in text is there in the original
    assert demo_content.DEMO_CROPS["rgb_color"].y0 > 40


@pytest.mark.django_db(transaction=True)
def test_the_demo_share_is_published_through_the_http_api(live_server, settings) -> None:
    settings.PORTAL_API_URL = live_server.url
    settings.PORTAL_URL = live_server.url
    api_key = demo_content.prepare(lambda line: None).api_key

    share = demo_content.publish_demo_share(api_key)

    assert share.url.startswith(f"{live_server.url}/s/")
    stored = Share.objects.get()
    assert stored.items.count() == 3
    assert argon2_verify(stored.password_hash, share.password)
    assert argon2_verify(stored.delete_code_hash, share.delete_code)
    page = requests.get(share.url, timeout=30)
    assert page.status_code == 200
    assert share.password not in page.text
