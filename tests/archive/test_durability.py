"""E1 part (a) and E4: a fault at any step of the durable write means no success, no partial
file visible and no index row; the next instance is stored normally.

The crash loop (E1 part (b), SIGKILL during transfers) belongs with the DICOM listener tests.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection

from echoshare.archive import errors, services, storage
from echoshare.archive.models import Instance, InstanceFile, Study
from echoshare.archive.services import IngestRefused, archive_tmp_dir, instance_store
from tests.archive.conftest import DICOM_ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)


def _failing(exc: BaseException, real: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A replacement that does part of the real work first, where there is work to do."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        if real is not None:
            real(*args, **kwargs)
        raise exc

    return fail


def _assert_nothing_archived(archive_files) -> None:
    assert archive_files() == []
    assert list(archive_tmp_dir().iterdir()) == []
    assert (Study.objects.count(), Instance.objects.count(), InstanceFile.objects.count()) == (
        0,
        0,
        0,
    )


def _partial_write(fd: int, data: bytes | memoryview) -> None:
    os.write(fd, bytes(data)[: len(data) // 2])
    raise OSError(errno.EIO, "I/O error")


@pytest.mark.parametrize(
    ("step", "replacement"),
    [
        ("write_chunk", _partial_write),
        ("fsync_file", _failing(OSError(errno.EIO, "I/O error"))),
        ("rename", _failing(OSError(errno.EIO, "I/O error"))),
        ("fsync_dir", _failing(OSError(errno.EIO, "I/O error"))),
    ],
)
def test_a_fault_at_a_file_step_gives_no_success_and_leaves_nothing(
    make_dicom, archive_files, monkeypatch, step, replacement
):
    source = make_dicom()
    monkeypatch.setattr(storage, step, replacement)

    with pytest.raises(IngestRefused) as caught:
        instance_store(path=source, origin=DICOM_ORIGIN)

    assert caught.value.status == errors.OUT_OF_RESOURCES
    _assert_nothing_archived(archive_files)
    monkeypatch.undo()
    assert instance_store(path=source, origin=DICOM_ORIGIN).created


def test_a_failing_directory_fsync_after_the_rename_takes_the_file_back(
    make_dicom, archive_files, monkeypatch
):
    """With the date folder already there, the only directory fsync is the one after the
    rename: the renamed file must not stay visible."""
    earlier = instance_store(path=make_dicom(), origin=DICOM_ORIGIN).instance.files.get()
    calls: list[str] = []

    def fail_after_rename(*args: object) -> None:
        calls.append("fsync_dir")
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(storage, "rename", _recorded(calls, "rename", storage.rename))
    monkeypatch.setattr(storage, "fsync_dir", fail_after_rename)

    with pytest.raises(IngestRefused):
        instance_store(path=make_dicom(), origin=DICOM_ORIGIN)

    assert calls == ["rename", "fsync_dir"]
    assert [p.name for p in archive_files()] == [earlier.relative_path.rsplit("/", 1)[1]]
    assert list(archive_tmp_dir().iterdir()) == []
    assert InstanceFile.objects.count() == 1


def _recorded(calls: list[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return real(*args, **kwargs)

    return record


def test_a_fault_at_the_commit_gives_no_success_and_leaves_nothing(
    make_dicom, archive_files, monkeypatch
):
    source = make_dicom()
    monkeypatch.setattr(connection, "commit", _failing(DatabaseError("disk I/O error")))

    with pytest.raises(IngestRefused) as caught:
        instance_store(path=source, origin=DICOM_ORIGIN)

    monkeypatch.undo()
    assert caught.value.status == errors.OUT_OF_RESOURCES
    _assert_nothing_archived(archive_files)
    assert instance_store(path=source, origin=DICOM_ORIGIN).created


def test_an_interruption_between_rename_and_commit_leaves_no_partial_file(
    make_dicom, archive_files, monkeypatch
):
    """Even an exception that is not an error of ours (KeyboardInterrupt, a bug) cleans up."""
    source = make_dicom()
    monkeypatch.setattr(services, "audit_record", _failing(KeyboardInterrupt()))

    with pytest.raises(KeyboardInterrupt):
        instance_store(path=source, origin=DICOM_ORIGIN)

    monkeypatch.undo()
    _assert_nothing_archived(archive_files)


def test_success_comes_only_after_write_fsync_rename_dir_fsync_and_commit(make_dicom, monkeypatch):
    steps: list[str] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            steps.append(name)
            return result

        return record

    for name in ("write_chunk", "fsync_file", "rename", "fsync_dir"):
        monkeypatch.setattr(storage, name, spy(name, getattr(storage, name)))
    monkeypatch.setattr(connection, "commit", spy("commit", connection.commit))

    result = instance_store(path=make_dicom(), origin=DICOM_ORIGIN)
    steps.append("returned")

    assert result.created
    assert steps[-2:] == ["commit", "returned"]
    last = {name: max(i for i, step in enumerate(steps) if step == name) for name in set(steps)}
    assert last["write_chunk"] < last["fsync_file"] < last["rename"] < last["fsync_dir"]
    assert last["fsync_dir"] < last["commit"]
    # The row is committed: another connection sees it at once.
    assert InstanceFile.objects.filter(instance=result.instance).exists()


def test_a_full_disk_gives_out_of_resources_and_the_next_store_works(
    make_dicom, archive_files, monkeypatch
):
    """E4: ENOSPC half-way through the copy."""

    def disk_full(fd: int, data: bytes | memoryview) -> None:
        os.write(fd, bytes(data)[:4096])
        raise OSError(errno.ENOSPC, "No space left on device")

    first, second = make_dicom(), make_dicom()
    monkeypatch.setattr(storage, "write_chunk", disk_full)

    with pytest.raises(IngestRefused) as caught:
        instance_store(path=first, origin=DICOM_ORIGIN)

    assert caught.value.status == errors.OUT_OF_RESOURCES
    assert caught.value.reason == "archive disk full"
    _assert_nothing_archived(archive_files)
    monkeypatch.undo()
    assert instance_store(path=second, origin=DICOM_ORIGIN).created
    assert instance_store(path=first, origin=DICOM_ORIGIN).created
