"""A rendered clip plays in Chromium (Debian's, through Playwright): the same H.264 High
profile, yuv420p, faststart MP4 that phones get."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoshare.imaging.render import RenderSettings, render_item

from .conftest import make_ultrasound

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_the_clip_plays_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    source = make_ultrasound(tmp_path / "a.dcm", frames=50, canaries=False)  # 2 s at 25 fps
    result = render_item(source, out_dir=tmp_path / "out", settings=RenderSettings())
    page_file = tmp_path / "out" / "play.html"
    page_file.write_text(
        '<!doctype html><video id="v" src="clip.mp4" muted playsinline autoplay></video>'
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            page.wait_for_function(
                "() => { const v = document.getElementById('v');"
                " return v.readyState >= 2 && v.currentTime > 0.5 }",
                timeout=15_000,
            )
            state = page.evaluate(
                "() => { const v = document.getElementById('v'); return {error: v.error,"
                " width: v.videoWidth, height: v.videoHeight, duration: v.duration} }"
            )
        finally:
            browser.close()
    assert state["error"] is None
    assert (state["width"], state["height"]) == (160, 120)
    assert state["duration"] == pytest.approx(2.0, abs=0.05)
    assert result.outputs["clip"].name == "clip.mp4"
