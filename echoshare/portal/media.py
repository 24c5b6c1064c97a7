"""The portal's files on local disk: atomic writes under server-made names, and removal.

A file is copied to a temporary name in its final folder, flushed and fsynced, renamed,
and the folder fsynced, so a crash never leaves a half-written file under a real name.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from django.conf import settings

_CHUNK = 1024 * 1024
_STORAGE_DIR = re.compile(r"^[0-9a-f]{32}$")  # models.new_storage_dir


@dataclass(frozen=True)
class StoredFile:
    key: str  # path relative to PORTAL_MEDIA_DIR
    size: int
    sha256: str


def media_root() -> Path:
    return Path(settings.PORTAL_MEDIA_DIR)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_file(source: IO[bytes], *, folder: str, suffix: str) -> StoredFile:
    """Copy `source` to PORTAL_MEDIA_DIR/<folder>/<random><suffix>, atomically."""
    target_dir = media_root() / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16) + suffix
    final = target_dir / name
    temporary = target_dir / f".{name}.part"
    digest = hashlib.sha256()
    size = 0
    source.seek(0)
    try:
        with open(temporary, "xb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        _fsync_dir(target_dir)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return StoredFile(key=f"{folder}/{name}", size=size, sha256=digest.hexdigest())


def remove_file(path: Path) -> None:
    """Remove one file; a file already gone is fine (purges are re-run after failures)."""
    path.unlink(missing_ok=True)


def orphan_folders(*, known: set[str], older_than: datetime) -> list[Path]:
    """Share folders no share row names, last changed before `older_than`: left by a
    create request that died between storing its files and committing its rows."""
    root = media_root()
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        if not _STORAGE_DIR.match(entry.name) or entry.name in known or not entry.is_dir():
            continue
        if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < older_than:
            found.append(entry)
    return found


def remove_tree(folder: Path) -> None:
    """Remove a share folder with the files in it (it holds no subfolders)."""
    for path in folder.iterdir():
        remove_file(path)
    folder.rmdir()


def remove_folder(folder: Path) -> None:
    """Remove a share's folder once its files are gone (and any leftover temporary file)."""
    if not folder.exists():
        return
    for leftover in folder.glob(".*.part"):
        leftover.unlink(missing_ok=True)
    folder.rmdir()
