"""E4 on the network path: the disk fills up while a received data set is being spooled
(before the C-STORE handler runs). The sender must get Out of Resources, no partial file may
stay behind, nothing may be indexed, and the listener must keep serving."""

from __future__ import annotations

import errno
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from echoshare.archive.models import Instance, InstanceFile
from echoshare.dicomnet import spool
from echoshare.dicomnet.spool import spool_file, spool_files

pytestmark = pytest.mark.dicom

OUT_OF_RESOURCES = 0xA700


class _FillingDisk:
    """A spool file on a disk with `room` bytes left: the write that needs more fails with
    ENOSPC, or with `fail_in="flush"` (as a buffered file does it) the flush that does."""

    def __init__(self, real: Any, room: int, *, fail_in: str) -> None:
        self._real = real
        self._room = room
        self._fail_in = fail_in
        self._written = 0

    def write(self, data: bytes) -> int:
        if self._fail_in == "write" and self._written + len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._written += len(data)
        return int(self._real.write(data))

    def flush(self) -> None:
        if self._fail_in == "flush" and self._written > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._real.flush()

    def __getattr__(self, name: str) -> Any:  # name, close
        return getattr(self._real, name)


@pytest.fixture
def disk_fills_up(monkeypatch):  # type: ignore[no-untyped-def]
    """The next spool files get `room` bytes each; `disk_fills_up(None)` frees the disk."""
    real = tempfile.NamedTemporaryFile

    def fill(room: int | None, *, fail_in: str = "write") -> None:
        if room is None:
            monkeypatch.setattr(spool.tempfile, "NamedTemporaryFile", real)
            return

        def filling(*args: Any, **kwargs: Any) -> _FillingDisk:
            return _FillingDisk(real(*args, **kwargs), room, fail_in=fail_in)

        monkeypatch.setattr(spool.tempfile, "NamedTemporaryFile", filling)

    return fill


def _associate(listener, *paths: Path):  # type: ignore[no-untyped-def]
    ae = AE(ae_title="PYSCU")
    ae.dimse_timeout = 15
    for path in paths:
        ae.add_requested_context(dcmread(path, stop_before_pixels=True).SOPClassUID)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    return assoc


def _store(listener, path: Path) -> tuple[int | None, bool]:
    """One C-STORE by pynetdicom on a new association: its status (None when there was no
    answer) and whether the association was still up afterwards."""
    assoc = _associate(listener, path)
    answer = assoc.send_c_store(dcmread(path))
    still_up = assoc.is_established
    if still_up:
        assoc.release()
    return (int(answer.Status) if "Status" in answer else None), still_up


def _archived_whole(uid: str) -> bool:
    stored = InstanceFile.objects.get(instance__sop_instance_uid=uid)
    archived = Path(settings.ARCHIVE_DIR) / stored.relative_path
    return stored.sha256 == hashlib.sha256(archived.read_bytes()).hexdigest()


def _echo(listener) -> int:
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    status = int(assoc.send_c_echo().Status)
    assoc.release()
    return status


@pytest.mark.parametrize(
    ("room", "fail_in"),
    [
        (0, "write"),  # not even the preamble fits
        (50_000, "write"),  # half-way through the pixel data
        (50_000, "flush"),  # the buffered bytes cannot be flushed
    ],
)
def test_a_full_disk_while_spooling_answers_out_of_resources_and_keeps_nothing(
    listener, sample_files, disk_fills_up, room, fail_in
):
    path = sample_files["cine_explicit_le"]
    assert path.stat().st_size > 10 * 50_000
    uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
    disk_fills_up(room, fail_in=fail_in)
    assoc = _associate(listener, path)

    answer = assoc.send_c_store(dcmread(path))

    assert "Status" in answer, "no answer: the association was aborted"
    assert answer.Status == OUT_OF_RESOURCES
    assert answer.ErrorComment == "out of disk space"
    assert spool_files() == []
    assert not Instance.objects.filter(sop_instance_uid=uid).exists()
    assert not InstanceFile.objects.exists()

    # Room again: the same association stays in step and the re-send is archived whole,
    assert assoc.is_established
    disk_fills_up(None)
    assert assoc.send_c_store(dcmread(path)).Status == 0x0000
    assoc.release()
    assert _archived_whole(uid)
    # and the listener serves new associations.
    assert _echo(listener) == 0x0000
    other = sample_files["single_explicit_le"]
    assert _store(listener, other) == (0x0000, True)
    assert _archived_whole(dcmread(other, stop_before_pixels=True).SOPInstanceUID)
    assert spool_files() == []


def test_a_spool_file_that_cannot_be_created_answers_out_of_resources(
    listener, sample_files, monkeypatch
):
    def no_inodes_left(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool.tempfile, "NamedTemporaryFile", no_inodes_left)
    path = sample_files["single_explicit_le"]
    assert _store(listener, path) == (OUT_OF_RESOURCES, True)
    assert spool_files() == []
    assert not Instance.objects.exists()


def test_another_io_error_while_spooling_is_a_processing_failure(
    listener, sample_files, monkeypatch
):
    real = tempfile.NamedTemporaryFile

    class _BrokenDisk(_FillingDisk):
        def write(self, data: bytes) -> int:
            raise OSError(errno.EIO, "Input/output error")

    def broken(*args: Any, **kwargs: Any) -> _BrokenDisk:
        return _BrokenDisk(real(*args, **kwargs), 0, fail_in="write")

    monkeypatch.setattr(spool.tempfile, "NamedTemporaryFile", broken)
    assert _store(listener, sample_files["single_explicit_le"]) == (0x0110, True)
    assert spool_files() == []


def test_the_spool_counts_only_what_the_file_took():
    with spool_file(delete=False, mode="wb", suffix=".dcm") as written:
        written.write(b"kept")
        real_write = written._spool.write
        written._spool.write = _raise_enospc
        written.write(b"lost")
        written._spool.write = real_write
        written.write(b"after")  # discarded: the file is gone
    assert written.failed is not None and written.failed.errno == errno.ENOSPC
    assert written.size == 4
    assert written.sha256() == hashlib.sha256(b"kept").hexdigest()
    assert not Path(written.name).exists()


def _raise_enospc(data: bytes) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")
