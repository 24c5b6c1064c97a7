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
    `write`, never seeks). Everything else is the NamedTemporaryFile's.
    """

    def __init__(self, spool: Any) -> None:
        self._spool = spool
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha256.update(data)
        self.size += len(data)
        return int(self._spool.write(data))

    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def __getattr__(self, name: str) -> Any:  # name, file, close ...
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
    return HashingSpool(tempfile.NamedTemporaryFile(*args, **kwargs))  # pynetdicom closes it


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
