"""The streaming zip writer (echoshare.lib.zipstream): stored members, exact size, ZIP64."""

from __future__ import annotations

import io
import os
import subprocess
import tracemalloc
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from echoshare.lib.zipstream import ZipMember, ZipSourceChanged, zip_size, zip_stream

MODIFIED = datetime(2026, 3, 14, 15, 9, 26)


def _members(tmp_path: Path, sizes: dict[str, int]) -> list[ZipMember]:
    members = []
    for name, size in sizes.items():
        path = tmp_path / name
        path.write_bytes(os.urandom(size))
        members.append(ZipMember(name=name, path=path, size=size, modified=MODIFIED))
    return members


def _archive(members: list[ZipMember], **kwargs: int) -> bytes:
    return b"".join(zip_stream(members, **kwargs))


def test_it_holds_every_member_byte_for_byte_and_stored(tmp_path: Path) -> None:
    members = _members(tmp_path, {"echo-01.jpg": 300_000, "echo-02.jpg": 1, "echo-clip-01.mp4": 0})
    with zipfile.ZipFile(io.BytesIO(_archive(members))) as archive:
        assert archive.testzip() is None  # every CRC matches
        assert archive.namelist() == ["echo-01.jpg", "echo-02.jpg", "echo-clip-01.mp4"]
        for member in members:
            info = archive.getinfo(member.name)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (2026, 3, 14, 15, 9, 26)
            assert archive.read(member.name) == member.path.read_bytes()


def test_it_announces_its_exact_size_in_advance(tmp_path: Path) -> None:
    members = _members(tmp_path, {"a.jpg": 12345, "b.mp4": 2 * 1024 * 1024 + 7})
    assert zip_size(members) == len(_archive(members))


def test_it_sends_blocks_no_larger_than_asked(tmp_path: Path) -> None:
    members = _members(tmp_path, {"big.mp4": 5 * 65536 + 3})
    blocks = list(zip_stream(members, block_size=65536))
    assert max(len(b) for b in blocks) <= 65536
    assert len(blocks) >= 6


def test_it_is_read_by_info_zip_unzip(tmp_path: Path) -> None:
    members = _members(tmp_path, {"echo-01.jpg": 5000, "echo-clip-01.mp4": 70000})
    target = tmp_path / "all.zip"
    target.write_bytes(_archive(members))
    result = subprocess.run(["unzip", "-t", str(target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


def test_it_uses_zip64_when_a_size_or_offset_passes_the_limit(tmp_path: Path) -> None:
    # A low limit stands in for 4 GiB, so the ZIP64 records are checked without 4 GiB files.
    members = _members(tmp_path, {"a.jpg": 100, "b.jpg": 2000, "c.mp4": 50})
    data = _archive(members, zip64_limit=1000)
    assert len(data) == zip_size(members, zip64_limit=1000)
    assert b"PK\x06\x06" in data  # ZIP64 end of central directory record
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        for member in members:
            assert archive.read(member.name) == member.path.read_bytes()
    target = tmp_path / "all64.zip"
    target.write_bytes(data)
    assert subprocess.run(["unzip", "-tq", str(target)], capture_output=True).returncode == 0


def test_it_writes_no_zip64_records_for_a_small_share(tmp_path: Path) -> None:
    data = _archive(_members(tmp_path, {"a.jpg": 100}))
    assert b"PK\x06\x06" not in data


def test_it_refuses_a_file_that_shrank_after_the_size_was_announced(tmp_path: Path) -> None:
    members = _members(tmp_path, {"a.jpg": 100})
    members[0].path.write_bytes(b"short")
    with pytest.raises(ZipSourceChanged):
        _archive(members)


def test_it_refuses_a_file_that_grew_after_the_size_was_announced(tmp_path: Path) -> None:
    members = _members(tmp_path, {"a.jpg": 100})
    members[0].path.write_bytes(b"x" * 101)
    with pytest.raises(ZipSourceChanged):
        _archive(members)


def test_it_stores_an_empty_archive_that_zipfile_opens(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(_archive([]))) as archive:
        assert archive.namelist() == []


def test_memory_stays_at_one_block_whatever_the_size(tmp_path: Path) -> None:
    """The writer holds one block at a time: a 24 MB member needs no more than a few blocks
    of memory (traced Python allocations), so a share of any size streams in flat memory."""
    members = _members(tmp_path, {"big.mp4": 24 * 1024 * 1024})
    tracemalloc.start()
    try:
        total = sum(len(block) for block in zip_stream(members, block_size=256 * 1024))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == zip_size(members)
    assert peak < 4 * 256 * 1024
