"""Clips decode back with the expected frame count, rate and size, with no audio (A6), and
rendering streams frames instead of holding the whole cine."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from echoshare.imaging.clips import ClipSettings, encode_clip, mp4_top_level_boxes
from echoshare.imaging.masking import Rect
from echoshare.imaging.render import RenderSettings, render_item

from .conftest import assert_clean_mp4, make_ultrasound

SETTINGS = RenderSettings(pixel_budget=50_000_000, clip=ClipSettings(preset="ultrafast"))


def _probe(path: Path) -> tuple[int, Fraction, int, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return (
            frames,
            Fraction(stream.average_rate),
            stream.codec_context.width,
            stream.codec_context.height,
            len(container.streams.audio),
        )


def test_a_clip_decodes_back_with_its_frames_rate_and_size(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=12)  # CineRate 25
    result = render_item(path, out_dir=tmp_path / "out", settings=SETTINGS)
    assert _probe(result.outputs["clip"]) == (12, Fraction(25), 160, 120, 0)
    assert (result.frames, result.frame_rate) == (12, Fraction(25))
    assert_clean_mp4(result.outputs["clip"])


def test_the_rate_comes_from_frame_time_when_there_is_no_cine_rate(tmp_path: Path) -> None:
    path = make_ultrasound(
        tmp_path / "a.dcm", frames=6, extra={"CineRate": None, "FrameTime": 33.333}
    )
    result = render_item(path, out_dir=tmp_path / "out", settings=SETTINGS)
    assert _probe(result.outputs["clip"])[1] == 30


def test_an_odd_crop_gives_an_even_clip(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=4)
    result = render_item(
        path, out_dir=tmp_path / "out", settings=SETTINGS, crop=Rect(1, 1, 101, 77)
    )
    assert _probe(result.outputs["clip"])[2:4] == (100, 76)


def test_the_still_of_a_cine_is_the_middle_frame_unless_another_is_chosen(tmp_path: Path) -> None:
    path = make_ultrasound(tmp_path / "a.dcm", frames=5)
    assert render_item(path, out_dir=tmp_path / "a", settings=SETTINGS).still_frame == 2
    chosen = render_item(path, out_dir=tmp_path / "b", settings=SETTINGS, frame=4)
    assert chosen.still_frame == 4
    marked = make_ultrasound(tmp_path / "m.dcm", frames=5, extra={"RepresentativeFrameNumber": 2})
    assert render_item(marked, out_dir=tmp_path / "c", settings=SETTINGS).still_frame == 1


def test_the_index_comes_before_the_media_data(tmp_path: Path) -> None:
    frames = (np.full((64, 96, 3), i * 20, dtype=np.uint8) for i in range(5))
    path = tmp_path / "clip.mp4"
    info = encode_clip(frames, path=path, frame_rate=Fraction(10), settings=ClipSettings())
    assert info.frames == 5
    assert mp4_top_level_boxes(path)[:2] == ["ftyp", "moov"]


def _peak_while_rendering(path: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        render_item(path, out_dir=out, settings=SETTINGS)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_length_of_the_clip(tmp_path: Path) -> None:
    short = make_ultrasound(tmp_path / "short.dcm", frames=10, canaries=False)
    long = make_ultrasound(tmp_path / "long.dcm", frames=150, canaries=False)
    frame_bytes = 120 * 160 * 3
    short_peak = _peak_while_rendering(short, tmp_path / "s")
    long_peak = _peak_while_rendering(long, tmp_path / "l")
    # Holding the long cine would add 140 frames; streaming adds at most a few.
    assert long_peak - short_peak < 20 * frame_bytes
