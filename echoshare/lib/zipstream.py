"""A zip archive written while it is being sent: stored (not recompressed), ZIP64 when needed.

Photos and clips are already compressed, so the archive stores them as they are. Each member's
CRC-32 is computed while its bytes stream past and sent in a data descriptor after the data
(general purpose flag bit 3), so nothing is read twice and memory holds one block at a time,
whatever the size of the share. Because members are stored, the size of the whole archive is
known before the first byte (`zip_size`), so a download can carry a Content-Length.

ZIP64 (APPNOTE 6.3.10, section 4.5.3) is used per member when its size or its offset reaches
4 GiB, and for the end records when the directory needs it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

BLOCK_SIZE = 1024 * 1024
ZIP64_LIMIT = 0xFFFFFFFF
_MAX_ENTRIES = 0xFFFF

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
_END_RECORD = struct.Struct("<IHHHHIIH")
_ZIP64_END_RECORD = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_ZIP64_EXTRA = struct.Struct("<HHQQQ")  # id 1: uncompressed size, compressed size, offset
_DESCRIPTOR = struct.Struct("<IIII")
_DESCRIPTOR64 = struct.Struct("<IIQQ")

_FLAGS = 0x0008 | 0x0800  # sizes and CRC follow the data; names are UTF-8
_STORED = 0
_VERSION = 20
_VERSION64 = 45
_MADE_BY = (3 << 8) | _VERSION64  # Unix, so the file mode below is read
_FILE_MODE = 0o100644 << 16


class ZipSourceChanged(Exception):
    """A member file's size differs from what was declared: the archive would be corrupt."""


@dataclass(frozen=True)
class ZipMember:
    name: str
    path: Path
    size: int
    modified: datetime  # local time of the archive's reader (zip stores no time zone)


@dataclass(frozen=True)
class _Entry:
    member: ZipMember
    offset: int
    zip64: bool

    @property
    def name_bytes(self) -> bytes:
        return self.member.name.encode("utf-8")


def _layout(members: Iterable[ZipMember], zip64_limit: int) -> list[_Entry]:
    """Where each member starts, and whether it needs ZIP64: sizes are known in advance."""
    entries: list[_Entry] = []
    offset = 0
    for member in members:
        zip64 = member.size >= zip64_limit or offset >= zip64_limit
        entry = _Entry(member, offset, zip64)
        entries.append(entry)
        offset += _local_header_size(entry) + member.size + _descriptor_size(entry)
    return entries


def _local_header_size(entry: _Entry) -> int:
    return _LOCAL_HEADER.size + len(entry.name_bytes) + (_ZIP64_EXTRA.size if entry.zip64 else 0)


def _descriptor_size(entry: _Entry) -> int:
    return _DESCRIPTOR64.size if entry.zip64 else _DESCRIPTOR.size


def _central_header_size(entry: _Entry) -> int:
    return _CENTRAL_HEADER.size + len(entry.name_bytes) + (_ZIP64_EXTRA.size if entry.zip64 else 0)


def _dos_time(moment: datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    return time, date


def _zip64_extra(entry: _Entry) -> bytes:
    size = entry.member.size
    return _ZIP64_EXTRA.pack(1, 24, size, size, entry.offset)


def _local_header(entry: _Entry) -> bytes:
    time, date = _dos_time(entry.member.modified)
    size32 = ZIP64_LIMIT if entry.zip64 else entry.member.size
    extra = _zip64_extra(entry) if entry.zip64 else b""
    header = _LOCAL_HEADER.pack(
        0x04034B50,
        _VERSION64 if entry.zip64 else _VERSION,
        _FLAGS,
        _STORED,
        time,
        date,
        0,  # CRC-32: in the data descriptor
        size32,
        size32,
        len(entry.name_bytes),
        len(extra),
    )
    return header + entry.name_bytes + extra


def _descriptor(entry: _Entry, crc: int) -> bytes:
    size = entry.member.size
    if entry.zip64:
        return _DESCRIPTOR64.pack(0x08074B50, crc, size, size)
    return _DESCRIPTOR.pack(0x08074B50, crc, size, size)


def _central_header(entry: _Entry, crc: int) -> bytes:
    time, date = _dos_time(entry.member.modified)
    size32 = ZIP64_LIMIT if entry.zip64 else entry.member.size
    offset32 = ZIP64_LIMIT if entry.zip64 else entry.offset
    extra = _zip64_extra(entry) if entry.zip64 else b""
    header = _CENTRAL_HEADER.pack(
        0x02014B50,
        _MADE_BY,
        _VERSION64 if entry.zip64 else _VERSION,
        _FLAGS,
        _STORED,
        time,
        date,
        crc,
        size32,
        size32,
        len(entry.name_bytes),
        len(extra),
        0,  # comment length
        0,  # disk number
        0,  # internal attributes
        _FILE_MODE,
        offset32,
    )
    return header + entry.name_bytes + extra


def _end_records(count: int, directory_offset: int, directory_size: int, zip64: bool) -> bytes:
    records = b""
    if zip64:
        end64_offset = directory_offset + directory_size
        records += _ZIP64_END_RECORD.pack(
            0x06064B50, 44, _MADE_BY, _VERSION64, 0, 0, count, count, directory_size,
            directory_offset,
        )  # fmt: skip
        records += _ZIP64_LOCATOR.pack(0x07064B50, 0, end64_offset, 1)
    return records + _END_RECORD.pack(
        0x06054B50,
        0,
        0,
        min(count, _MAX_ENTRIES),
        min(count, _MAX_ENTRIES),
        min(directory_size, ZIP64_LIMIT),
        min(directory_offset, ZIP64_LIMIT),
        0,
    )


def _needs_zip64_end(entries: list[_Entry], directory_offset: int, zip64_limit: int) -> bool:
    directory_size = sum(_central_header_size(e) for e in entries)
    return (
        any(e.zip64 for e in entries)
        or len(entries) >= _MAX_ENTRIES
        or directory_offset >= zip64_limit
        or directory_size >= zip64_limit
    )


def zip_size(members: Iterable[ZipMember], *, zip64_limit: int = ZIP64_LIMIT) -> int:
    """The exact number of bytes `zip_stream` will produce for these members."""
    entries = _layout(members, zip64_limit)
    data = sum(_local_header_size(e) + e.member.size + _descriptor_size(e) for e in entries)
    directory = sum(_central_header_size(e) for e in entries)
    end = _END_RECORD.size
    if _needs_zip64_end(entries, data, zip64_limit):
        end += _ZIP64_END_RECORD.size + _ZIP64_LOCATOR.size
    return data + directory + end


def _member_blocks(member: ZipMember, block_size: int) -> Iterator[bytes]:
    """The member's bytes in blocks, checking that there are exactly `size` of them."""
    remaining = member.size
    with member.path.open("rb") as source:
        while remaining > 0:
            block = source.read(min(block_size, remaining))
            if not block:
                raise ZipSourceChanged(f"{member.name}: shorter than {member.size} bytes")
            remaining -= len(block)
            yield block
        if source.read(1):
            raise ZipSourceChanged(f"{member.name}: longer than {member.size} bytes")


def zip_stream(
    members: Iterable[ZipMember],
    *,
    block_size: int = BLOCK_SIZE,
    zip64_limit: int = ZIP64_LIMIT,
) -> Iterator[bytes]:
    """The archive, block by block. Raises ZipSourceChanged if a file's size is not as said."""
    entries = _layout(members, zip64_limit)
    crcs: list[int] = []
    for entry in entries:
        yield _local_header(entry)
        crc = 0
        for block in _member_blocks(entry.member, block_size):
            crc = zlib.crc32(block, crc)
            yield block
        crcs.append(crc)
        yield _descriptor(entry, crc)
    directory_offset = sum(
        _local_header_size(e) + e.member.size + _descriptor_size(e) for e in entries
    )
    directory = b"".join(_central_header(e, c) for e, c in zip(entries, crcs, strict=True))
    zip64 = _needs_zip64_end(entries, directory_offset, zip64_limit)
    yield directory + _end_records(len(entries), directory_offset, len(directory), zip64)
