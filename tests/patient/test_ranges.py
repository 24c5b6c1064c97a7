"""Range and conditional request parsing (echoshare.lib.ranges)."""

from __future__ import annotations

import pytest

from echoshare.lib.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    http_date,
    is_not_modified,
    parse_range,
    range_applies,
)

SIZE = 1000
MTIME = 1_700_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=0-", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("BYTES = 5 - 9", ByteRange(5, 9)),
        ("bytes=0-1", ByteRange(0, 1)),
    ],
)
def test_it_reads_one_range(header: str, expected: ByteRange) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header", [None, "", "bytes=0-1,5-9", "items=0-5", "bytes=9-5", "bytes=-", "bytes=a-b"]
)
def test_it_ignores_what_it_does_not_serve_and_sends_the_whole_file(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_it_refuses_ranges_outside_the_file(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, SIZE)


def test_it_writes_content_range() -> None:
    assert ByteRange(0, 99).content_range(SIZE) == "bytes 0-99/1000"
    assert ByteRange(0, 99).length == 100


def test_it_answers_not_modified_for_a_matching_etag() -> None:
    common = {"if_modified_since": None, "etag": '"abc"', "mtime": MTIME}
    assert is_not_modified(if_none_match='"abc"', **common)
    assert is_not_modified(if_none_match='"x", W/"abc"', **common)
    assert is_not_modified(if_none_match="*", **common)
    assert not is_not_modified(if_none_match='"other"', **common)


def test_it_answers_not_modified_when_unchanged_since() -> None:
    common = {"if_none_match": None, "etag": '"abc"', "mtime": MTIME}
    assert is_not_modified(if_modified_since=http_date(MTIME), **common)
    assert not is_not_modified(if_modified_since=http_date(MTIME - 60), **common)
    assert not is_not_modified(if_modified_since="not a date", **common)


def test_it_honours_if_range_only_for_the_current_version() -> None:
    assert range_applies(if_range=None, etag='"abc"', mtime=MTIME)
    assert range_applies(if_range='"abc"', etag='"abc"', mtime=MTIME)
    assert not range_applies(if_range='"old"', etag='"abc"', mtime=MTIME)
    assert range_applies(if_range=http_date(MTIME), etag='"abc"', mtime=MTIME)
    assert not range_applies(if_range=http_date(MTIME - 1), etag='"abc"', mtime=MTIME)
    assert not range_applies(if_range="garbage", etag='"abc"', mtime=MTIME)
