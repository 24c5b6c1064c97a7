"""Rendering is cached per (instance file, mask, frame, settings): re-publishing costs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from echoshare.imaging import cache
from echoshare.imaging.clips import ClipSettings
from echoshare.imaging.masking import Rect
from echoshare.imaging.render import RenderSettings

from .conftest import RGB, assert_clean_jpeg, make_ultrasound

SETTINGS = RenderSettings(pixel_budget=50_000_000, clip=ClipSettings(preset="ultrafast"))


def _count_renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = cache.render_with_mask

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cache, "render_with_mask", counting)
    return calls


def test_the_second_render_of_the_same_item_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_renders(monkeypatch)
    path = make_ultrasound(tmp_path / "a.dcm", frames=3)
    first = cache.render_cached(path, settings=SETTINGS)
    second = cache.render_cached(path, settings=SETTINGS, file_hash=cache.file_sha256(path))
    assert len(calls) == 1
    assert first.outputs == second.outputs
    assert second.branch == "regions" and second.frames == 3
    assert first.outputs["clip"].is_relative_to(Path(django_settings.DATA_DIR) / "render-cache")
    assert_clean_jpeg(second.outputs["still"])
    # No temporary folders are left behind.
    assert not list((Path(django_settings.DATA_DIR) / "render-cache").glob("*/.partial-*"))


def test_another_mask_frame_or_setting_renders_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_renders(monkeypatch)
    path = make_ultrasound(tmp_path / "a.dcm", frames=3)
    outputs = {
        cache.render_cached(path, settings=SETTINGS).outputs["still"],
        cache.render_cached(path, settings=SETTINGS, crop=Rect(0, 0, 99, 99)).outputs["still"],
        cache.render_cached(path, settings=SETTINGS, frame=0).outputs["still"],
        cache.render_cached(
            path, settings=RenderSettings(pixel_budget=50_000_000, clip=ClipSettings(crf=30))
        ).outputs["still"],
    }
    assert len(calls) == 4 and len(outputs) == 4


def test_items_that_need_review_are_not_cached(tmp_path: Path) -> None:
    result = cache.render_cached(RGB, settings=SETTINGS)
    assert result.branch == "needs_review" and not result.outputs
    assert not (Path(django_settings.DATA_DIR) / "render-cache").exists()


def test_the_settings_of_the_project_are_used_by_default(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    path = make_ultrasound(tmp_path / "a.dcm")
    settings.IMAGING_THUMBNAIL_SIZE = 80
    result = cache.render_cached(path)
    from PIL import Image

    assert max(Image.open(result.outputs["thumbnail"]).size) == 80


def test_partial_entries_of_a_crashed_worker_are_swept(tmp_path: Path) -> None:
    import os
    import time

    path = make_ultrasound(tmp_path / "a.dcm")
    first = cache.render_cached(path, settings=SETTINGS)
    folder = first.outputs["still"].parent.parent
    abandoned, recent = folder / ".partial-dead", folder / ".partial-busy"
    for partial in (abandoned, recent):
        partial.mkdir()
        (partial / "clip.mp4").write_bytes(b"half")
    old = time.time() - cache.ABANDONED_AFTER_SECONDS - 60
    os.utime(abandoned, (old, old))
    cache.render_cached(path, settings=SETTINGS, crop=Rect(0, 0, 99, 99))  # a new entry
    assert not abandoned.exists() and recent.exists()
