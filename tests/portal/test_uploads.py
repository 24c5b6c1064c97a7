"""Upload checks (F4) on damaged input: only ever a clean UploadError, never a crash."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from echoshare.portal.uploads import UploadError, check_jpeg, check_mp4, sniff
from tests.portal.factories import jpeg_bytes, mp4_bytes


def _outcome(check, content: bytes) -> str:
    try:
        check(io.BytesIO(content), field="f")
    except UploadError as exc:
        assert 400 <= exc.status < 500
        return exc.code
    return "ok"


def _flip(content: bytes, positions: list[int], values: list[int]) -> bytes:
    data = bytearray(content)
    for position, value in zip(positions, values, strict=False):
        data[position % len(data)] = value
    return bytes(data)


@settings(max_examples=60, deadline=None)
@given(tail=st.binary(max_size=400))
def test_random_bytes_behind_a_jpeg_signature_are_refused(tail: bytes) -> None:
    assert _outcome(check_jpeg, b"\xff\xd8\xff" + tail) != "ok"


@settings(max_examples=60, deadline=None)
@given(
    positions=st.lists(st.integers(min_value=2), min_size=1, max_size=8),
    values=st.lists(st.integers(0, 255), min_size=8, max_size=8),
)
def test_damaged_jpegs_never_crash_the_check(positions: list[int], values: list[int]) -> None:
    _outcome(check_jpeg, _flip(jpeg_bytes(), positions, values))


@settings(max_examples=60, deadline=None)
@given(
    positions=st.lists(st.integers(min_value=8), min_size=1, max_size=8),
    values=st.lists(st.integers(0, 255), min_size=8, max_size=8),
)
def test_damaged_mp4s_never_crash_the_check(positions: list[int], values: list[int]) -> None:
    _outcome(check_mp4, _flip(mp4_bytes(), positions, values))


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=8, max_value=4000))
def test_every_truncation_of_an_mp4_is_refused(cut: int) -> None:
    content = mp4_bytes(frames=30)
    assert _outcome(check_mp4, content[: cut % (len(content) - 1)]) != "ok"


def test_the_type_comes_from_the_content() -> None:
    assert sniff(io.BytesIO(jpeg_bytes())) == "jpeg"
    assert sniff(io.BytesIO(mp4_bytes())) == "mp4"
    assert sniff(io.BytesIO(b"GIF89a....")) is None
    assert _outcome(check_jpeg, jpeg_bytes()) == "ok"
    assert _outcome(check_mp4, mp4_bytes()) == "ok"
