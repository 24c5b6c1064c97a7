"""`echoshare render FILE... --out DIR`: the branch and outputs per file; nothing written for
a file that needs review."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from .conftest import RGB, YBR, assert_clean_jpeg, assert_clean_mp4, make_ultrasound

pytestmark = pytest.mark.django_db


def _run(*args: object) -> str:
    out = StringIO()
    call_command("render", *map(str, args), stdout=out)
    return out.getvalue()


def test_it_prints_the_branch_and_writes_only_publishable_files(tmp_path: Path) -> None:
    good = make_ultrasound(tmp_path / "machine-a.dcm", frames=3)
    output = _run(good, RGB, "--out", tmp_path / "out")
    assert f"{good}: regions: 2 valid region(s); keep 20,24,99,83 + 110,30,149,89" in output
    assert f"{RGB}: needs review: no Sequence of Ultrasound Regions; no device rule for" in output
    assert "nothing written" in output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["machine-a"]
    written = tmp_path / "out" / "machine-a"
    assert f"  clip: {written / 'clip.mp4'}" in output
    assert_clean_mp4(written / "clip.mp4")
    assert_clean_jpeg(written / "still.jpg")


def test_a_crop_renders_what_needs_review(tmp_path: Path) -> None:
    output = _run(YBR, "--out", tmp_path / "out", "--crop", "40,30,279,209", "--frame", "3")
    assert "staff crop" in output and "crop 40,30,279,209" in output
    assert_clean_mp4(tmp_path / "out" / "examples_ybr_color" / "clip.mp4")


def test_refused_files_are_reported_and_fail_the_command(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom")
    out = StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("render", str(junk), "--out", str(tmp_path / "out"), stdout=out)
    assert f"{junk}: refused: not a DICOM file" in out.getvalue()


def test_a_bad_crop_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--crop"):
        _run(RGB, "--out", tmp_path, "--crop", "1,2,3")
