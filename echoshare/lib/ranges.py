"""HTTP Range and conditional requests for one file (RFC 9110 sections 13 and 14).

Phones need byte ranges to play MP4 (Safari refuses a video answered with 200). One range per
request is enough for every player; a request for several ranges gets the whole file (200),
which RFC 9110 allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The range lies outside the file: answer 416 with `Content-Range: bytes */<size>`."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range asked for, or None for the whole file.

    None also for headers we do not act on (other units, several ranges, syntax errors):
    RFC 9110 14.2 lets a server ignore them and answer 200.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid syntax: ignored
    if start >= size:
        raise RangeNotSatisfiable
    end = int(last) if last else size - 1
    return ByteRange(start, min(end, size - 1))


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (If-None-Match): W/"x" equals "x"."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    return int(mtime) <= since.timestamp()


def is_not_modified(
    *, if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: float
) -> bool:
    """Whether a GET may be answered 304. If-None-Match wins over If-Modified-Since."""
    if if_none_match:
        return _etag_matches(if_none_match, etag)
    if if_modified_since:
        return _not_modified_since(if_modified_since, mtime)
    return False


def range_applies(*, if_range: str | None, etag: str, mtime: float) -> bool:
    """If-Range: honour the Range only if the client's copy is still the current one."""
    if not if_range:
        return True
    value = if_range.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == etag and not etag.startswith("W/")  # strong comparison
    try:
        return parsedate_to_datetime(value).timestamp() == int(mtime)
    except (TypeError, ValueError):
        return False
