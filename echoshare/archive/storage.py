"""Durable file operations of the archive (E1): temp file -> fsync -> rename -> fsync dir.

Layout under ARCHIVE_DIR:
    files/YYYY/MM/DD/<random>.dcm   archived instances (names made here, never from DICOM: F2)
    exported/YYYY/MM/DD/<random>.*  JPEG/PNG/MP4 staff uploaded onto exams (clinic.ExportedMedia)
    tmp/                            files being written; never counted as archived

Each step is its own small function so that tests can inject a fault at exactly that step.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import secrets
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings

FILES = "files"
EXPORTED = "exported"
TMP = "tmp"
CHUNK = 1024 * 1024


def archive_root() -> Path:
    return Path(settings.ARCHIVE_DIR)


def files_dir() -> Path:
    return archive_root() / FILES


def exported_dir() -> Path:
    return archive_root() / EXPORTED


def tmp_dir() -> Path:
    """A temp folder on the archive's filesystem, so that rename into place is atomic."""
    path = archive_root() / TMP
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_temp_path(suffix: str = ".part") -> Path:
    return tmp_dir() / f"{secrets.token_hex(16)}{suffix}"


def new_relative_path(now: datetime) -> PurePosixPath:
    """Where a new file goes, relative to ARCHIVE_DIR: date folders and a random name."""
    return PurePosixPath(
        FILES, f"{now:%Y}", f"{now:%m}", f"{now:%d}", secrets.token_hex(16) + ".dcm"
    )


def _under(folder: str, relative: str | PurePosixPath) -> Path:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != folder:
        raise ValueError(f"not a path under {folder}/: {relative}")
    return archive_root().joinpath(*path.parts)


def absolute(relative: str | PurePosixPath) -> Path:
    """An archived DICOM file's path; ValueError for anything outside files/ (a tampered row)."""
    return _under(FILES, relative)


def exported_absolute(relative: str | PurePosixPath) -> Path:
    """An exported media file's path; ValueError for anything outside exported/."""
    return _under(EXPORTED, relative)


def write_chunk(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_file(fd: int) -> None:
    os.fsync(fd)


def rename(source: Path, target: Path) -> None:
    os.rename(source, target)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create `path` and missing parents, fsyncing each new entry's parent (durable mkdir)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        fsync_dir(folder.parent)


def stream_to_temp(source: BinaryIO) -> tuple[Path, str, int]:
    """Copy `source` to a new temp file, hashing on the way; fsynced. -> (path, sha256, size)."""
    temp = new_temp_path()
    digest, size = hashlib.sha256(), 0
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            write_chunk(fd, chunk)
            size += len(chunk)
        fsync_file(fd)
    except BaseException:
        os.close(fd)
        remove_quietly(temp)
        raise
    os.close(fd)
    return temp, digest.hexdigest(), size


def hash_and_sync(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file we are about to move into place, fsynced first.

    The file is hashed through a memory map in one call, which holds no GIL from start to
    end: the ingest runs this in a helper thread while Python parses the header.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:  # an empty file cannot be mapped
            digest = hashlib.sha256()
        else:
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
                digest = hashlib.sha256(mapped)
        fsync_file(fd)
    finally:
        os.close(fd)
    return digest.hexdigest(), size


def sync_and_size(path: Path) -> int:
    """fsync a file we are about to move into place; its size."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync_file(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def place(temp: Path, relative: PurePosixPath) -> Path:
    """Rename an fsynced temp file to its archive path and make the rename durable."""
    target = absolute(relative)
    make_dirs(target.parent)
    rename(temp, target)
    try:
        fsync_dir(target.parent)
    except BaseException:
        remove_quietly(target)  # not durable, so never acknowledged: not archived either
        raise
    return target


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
