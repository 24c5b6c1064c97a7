"""Rendering is cached per (instance file, mask, frame, settings): re-publishing costs nothing."""

from __future__ import annotations

from collections.abc import Collection
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
    assert not list((Path(django_settings.DATA_DIR) / "render-cache").rglob(".partial-*"))


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


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_every_render_of_a_file_is_removed_with_it_and_others_stay(tmp_path: Path) -> None:
    """What purge and destruction call (through the archive's signal) for a deleted file."""
    gone = make_ultrasound(tmp_path / "gone.dcm", frames=3)
    kept = make_ultrasound(tmp_path / "kept.dcm")
    renders = [
        cache.render_cached(gone, settings=SETTINGS),
        cache.render_cached(gone, settings=SETTINGS, crop=Rect(0, 0, 99, 99)),
        cache.render_cached(gone, settings=SETTINGS, frame=0),
    ]
    root = Path(django_settings.DATA_DIR) / "render-cache"
    before = _files(root)
    kept_render = cache.render_cached(kept, settings=SETTINGS)
    kept_files = _files(root) - before

    assert cache.cache_remove_sources([cache.file_sha256(gone), cache.file_sha256(kept) + "x"]) == 1

    assert _files(root) == kept_files
    assert not any(p.exists() for r in renders for p in r.outputs.values())
    assert all(p.exists() for p in kept_render.outputs.values())
    assert cache.cache_remove_sources([cache.file_sha256(gone)]) == 0  # idempotent


def test_the_sweep_removes_entries_of_sources_no_longer_archived(tmp_path: Path) -> None:
    gone = make_ultrasound(tmp_path / "gone.dcm", frames=3)
    kept = make_ultrasound(tmp_path / "kept.dcm")
    cache.render_cached(gone, settings=SETTINGS)
    kept_render = cache.render_cached(kept, settings=SETTINGS)
    root = Path(django_settings.DATA_DIR) / "render-cache"
    asked: list[str] = []

    def still_archived(sha256s: Collection[str]) -> set[str]:
        asked.extend(sha256s)
        return {cache.file_sha256(kept)}

    assert cache.cache_sweep(still_archived) == 1

    assert sorted(asked) == sorted([cache.file_sha256(gone), cache.file_sha256(kept)])
    kept_folder = cache.source_folder(cache.file_sha256(kept))
    assert all(p.is_relative_to(kept_folder) for p in _files(root))
    assert all(p.exists() for p in kept_render.outputs.values())


def test_the_sweep_removes_entries_of_the_old_layout_and_nothing_it_does_not_know(
    tmp_path: Path,
) -> None:
    """Entries made before renders were grouped by source cannot be traced to their file."""
    root = Path(django_settings.DATA_DIR) / "render-cache"
    old = [root / "ab" / ("ab" + "0" * 62), root / "exported" / ("c" * 64)]
    for entry in old:
        entry.mkdir(parents=True)
        (entry / "still.jpg").write_bytes(b"a patient's image")
    foreign = root / "lost+found"
    foreign.mkdir()

    assert cache.cache_sweep(lambda sha256s: set()) == 2

    assert not (root / "ab").exists() and not (root / "exported").exists()
    assert foreign.exists()


def test_paths_are_only_built_from_hex_digests() -> None:
    with pytest.raises(ValueError):
        cache.source_folder("../../etc")
    with pytest.raises(ValueError):
        cache.source_entry("a" * 64, "../b")
    assert cache.cache_remove_sources(["../../etc", ""]) == 0


def test_the_plan_names_the_entry_render_cached_fills_and_renders_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staff pages look up the patient view with `cache_plan`: it must name the very
    entry publishing's `render_cached` fills, for every crop and frame, without rendering."""
    from echoshare.imaging.decode import read_header

    calls = _count_renders(monkeypatch)
    path = make_ultrasound(tmp_path / "a.dcm", frames=3)
    file_hash = cache.file_sha256(path)
    header = read_header(path, pixel_budget=SETTINGS.pixel_budget)
    for done, options in enumerate(({}, {"crop": Rect(0, 0, 99, 99)}, {"frame": 0})):
        plan = cache.cache_plan(header, settings=SETTINGS, **options)  # type: ignore[arg-type]
        entry = plan.entry(file_hash)
        assert not entry.exists() and len(calls) == done  # a lookup: nothing rendered or made
        result = cache.render_cached(path, settings=SETTINGS, file_hash=file_hash, **options)  # type: ignore[arg-type]
        assert result.outputs["still"].parent == entry
        assert result.still_frame == plan.still_frame() and result.branch == plan.mask.branch
    assert len(calls) == 3


def test_the_plan_of_an_item_that_needs_review_names_an_entry_never_filled(
    tmp_path: Path,
) -> None:
    from echoshare.imaging.decode import read_header

    plan = cache.cache_plan(read_header(RGB, pixel_budget=SETTINGS.pixel_budget), settings=SETTINGS)
    assert plan.mask.branch == "needs_review"
    entry = plan.entry(cache.file_sha256(RGB))
    assert not cache.render_cached(RGB, settings=SETTINGS).outputs
    assert not entry.exists()
