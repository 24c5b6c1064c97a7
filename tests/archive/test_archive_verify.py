"""`echoshare archive verify` (E3): flipped bytes, missing and unindexed files are found."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from echoshare.archive.fixity import archive_verify
from echoshare.archive.models import FixityRun
from echoshare.archive.services import archive_tmp_dir, instance_store
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.jobs.periodic import discover
from tests.archive.conftest import DICOM_ORIGIN

pytestmark = pytest.mark.django_db


def _store(make_dicom) -> Path:
    from django.conf import settings

    result = instance_store(path=make_dicom(), origin=DICOM_ORIGIN)
    return Path(settings.ARCHIVE_DIR) / result.instance.files.get().relative_path


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_clean_archive_verifies(make_dicom, capsys):
    _store(make_dicom)
    _store(make_dicom)

    call_command("archive", "verify")

    run = FixityRun.objects.get()
    assert (run.checked, run.missing, run.changed, run.unindexed, run.ok) == (2, 0, 0, 0, True)
    assert "checked 2, missing 0, changed 0, unindexed 0" in capsys.readouterr().out


def test_it_finds_a_flipped_byte(make_dicom):
    path = _store(make_dicom)
    _store(make_dicom)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError):
        call_command("archive", "verify")

    run = FixityRun.objects.get()
    assert (run.changed, run.missing, run.ok) == (1, 0, False)
    assert run.problems == [
        {"problem": "changed", "path": path.relative_to(path.parents[4]).as_posix()}
    ]


def test_it_finds_missing_and_unindexed_files(make_dicom, settings):
    gone = _store(make_dicom)
    gone.unlink()
    stray = Path(settings.ARCHIVE_DIR) / "files" / "2020" / "01" / "01" / "stray.dcm"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not indexed")
    _age(stray, 3600)

    run = archive_verify()

    assert (run.missing, run.unindexed, run.changed) == (1, 1, 0)
    assert {p["problem"] for p in run.problems} == {"missing", "unindexed"}
    assert {"problem": "unindexed", "path": "files/2020/01/01/stray.dcm"} in run.problems


def test_a_file_placed_moments_ago_is_not_called_unindexed(settings):
    fresh = Path(settings.ARCHIVE_DIR) / "files" / "2026" / "01" / "01" / "in-flight.dcm"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"its index row is about to commit")

    assert archive_verify().ok


def test_it_clears_stale_temp_files_but_not_fresh_ones():
    stale, fresh = archive_tmp_dir() / "stale.part", archive_tmp_dir() / "fresh.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    _age(stale, 2 * 86400)

    archive_verify()

    assert not stale.exists()
    assert fresh.exists()


def test_each_run_is_audited_with_its_outcome(make_dicom):
    path = _store(make_dicom)
    archive_verify()
    path.write_bytes(b"changed")
    archive_verify()

    outcomes = list(
        AuditRecord.objects.filter(event=events.ARCHIVE_VERIFIED)
        .order_by("seq")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["success", "failure"]


def test_the_scheduler_runs_it_weekly():
    job = discover()["archive.verify"]
    assert job.every.days == 7
    assert job.task.module_path == "echoshare.archive.tasks.verify_archive"


def test_the_weekly_job_reports_the_counts(make_dicom):
    from echoshare.archive.tasks import verify_archive

    _store(make_dicom)
    assert verify_archive.call() == {"checked": 1, "missing": 0, "changed": 0, "unindexed": 0}
    assert FixityRun.objects.get().ok
