"""The spool files of received C-STORE data sets (STORE_RECV_CHUNKED_DATASET).

A data set is written to a spool file in the archive's temporary folder while it arrives, so
that memory stays flat for a 173 MB cine and the archive's ingest renames the file into
place (same filesystem) instead of copying it. The file is hashed while it is written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from echoshare.archive.services import archive_tmp_dir

SPOOL_PREFIX = "dicom-rx-"


class HashingSpool:
    """pynetdicom's spool file for one received data set, hashing every byte written to it.

    The archive then need not read 1.4 MB back to hash it before answering: the SHA-256 is
    of exactly what was written (pynetdicom writes preamble, File Meta and data set through
    `write`, never seeks, and flushes through `file.flush()`). Everything else is the
    NamedTemporaryFile's.

    A write or flush that fails (a full disk: E4) must not escape: pynetdicom calls both in
    its DUL thread, where an exception kills the association without a word to the sender
    and leaves the spool file behind. The spool instead records the error in `failed`,
    deletes the partial file at once (giving its space back), and swallows the rest of the
    data set, so the association stays in step and the C-STORE handler can answer the
    sender with a failure status.
    """

    def __init__(self, spool: Any) -> None:
        self._spool = spool
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.failed: OSError | None = None

    @property
    def file(self) -> HashingSpool:
        """pynetdicom calls `spool.file.flush()` after each fragment: route it through
        `flush` so that a failing flush is caught like a failing write."""
        return self

    def write(self, data: bytes) -> int:
        if self.failed is None:
            try:
                written = int(self._spool.write(data))
            except OSError as exc:
                self._fail(exc)
            else:
                # Only bytes the file took are counted: size and hash stay those of the file.
                self._sha256.update(data)
                self.size += len(data)
                return written
        return len(data)  # discarded: the sender's data set is read to its end regardless

    def flush(self) -> None:
        if self.failed is None:
            try:
                self._spool.flush()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.failed = exc
        try:
            self._spool.close()
        except OSError:
            pass  # closing flushes the buffer, which fails the same way: the file goes anyway
        Path(self._spool.name).unlink(missing_ok=True)

    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def __getattr__(self, name: str) -> Any:  # name, close ...
        return getattr(self._spool, name)

    def __enter__(self) -> HashingSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spool.close()


def spool_file(*args: Any, **kwargs: Any) -> HashingSpool:
    """Replaces pynetdicom's NamedTemporaryFile for received datasets: same filesystem as the
    archive, named after this process so that a restart can remove what a killed
    predecessor left behind, and hashed while written."""
    kwargs["dir"] = archive_tmp_dir()
    kwargs["prefix"] = f"{SPOOL_PREFIX}{os.getpid()}-"
    try:
        opened = tempfile.NamedTemporaryFile(*args, **kwargs)  # pynetdicom closes it
    except OSError as exc:  # no room even for an empty file (inodes, quota): as a full disk
        spool = HashingSpool(_Unopened(kwargs["dir"] / f"{kwargs['prefix']}not-created.dcm"))
        spool.failed = exc
        return spool
    return HashingSpool(opened)


class _Unopened:
    """Stands in for a spool file that could not be created. Its name never exists (random
    temporary names have no "-"), so pynetdicom's unlink after the handler finds nothing."""

    def __init__(self, name: Path) -> None:
        self.name = str(name)

    def close(self) -> None:
        pass


def spool_clean_stale() -> int:
    """Remove spool files of processes that no longer run (killed mid-transfer)."""
    removed = 0
    for path in archive_tmp_dir().glob(f"{SPOOL_PREFIX}*"):
        pid_text = path.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spool_files() -> list[Path]:
    return sorted(archive_tmp_dir().glob(f"{SPOOL_PREFIX}*"))
