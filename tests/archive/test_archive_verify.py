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


# --- Exported JPEG/PNG/MP4 staff uploaded onto exams (ARCHIVE_DIR/exported/) ------------------


@pytest.fixture
def appointment():
    from datetime import date

    from django.utils import timezone

    from echoshare.clinic.models import Appointment, Patient

    patient = Patient.objects.create(
        patient_id="FX1", family_name="Fixity", birth_date=date(1990, 5, 6)
    )
    return Appointment.objects.create(
        patient=patient, scheduled_at=timezone.now(), exam_type="echo", accession_number="FX1"
    )


def _media_file(media) -> Path:
    from django.conf import settings

    return Path(settings.ARCHIVE_DIR) / media.relative_path


def test_exported_media_are_re_hashed_in_the_same_run(make_dicom, appointment, upload_media):
    _store(make_dicom)
    upload_media(appointment, shade=1)
    upload_media(appointment, shade=2)

    run = archive_verify()

    assert (run.checked, run.missing, run.changed, run.unindexed, run.ok) == (3, 0, 0, 0, True)


def test_it_finds_a_changed_exported_media_file(make_dicom, appointment, upload_media):
    _store(make_dicom)
    media = upload_media(appointment)
    path = _media_file(media)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError):
        call_command("archive", "verify")

    run = FixityRun.objects.get()
    assert (run.checked, run.changed, run.missing, run.unindexed) == (2, 1, 0, 0)
    assert run.problems == [{"problem": "changed", "path": media.relative_path}]
    record = AuditRecord.objects.get(event=events.ARCHIVE_VERIFIED)
    assert record.outcome == "failure"
    assert "1 changed" in record.detail


def test_it_finds_a_missing_exported_media_file(appointment, upload_media, capsys):
    media = upload_media(appointment)
    _media_file(media).unlink()

    with pytest.raises(CommandError):
        call_command("archive", "verify")

    run = FixityRun.objects.get()
    assert (run.missing, run.changed, run.unindexed) == (1, 0, 0)
    assert f"missing    {media.relative_path}" in capsys.readouterr().out


def test_it_finds_an_unindexed_file_in_exported_but_not_one_in_flight(settings):
    folder = Path(settings.ARCHIVE_DIR) / "exported" / "2026" / "01" / "01"
    folder.mkdir(parents=True)
    stray, fresh = folder / "stray.png", folder / "in-flight.png"
    stray.write_bytes(b"no row")
    fresh.write_bytes(b"its row is about to commit")
    _age(stray, 3600)

    run = archive_verify()

    assert (run.unindexed, run.missing, run.changed) == (1, 0, 0)
    assert run.problems == [{"problem": "unindexed", "path": "exported/2026/01/01/stray.png"}]


def test_an_exported_media_row_naming_a_dicom_path_is_not_trusted(
    make_dicom, appointment, upload_media
):
    """A tampered row pointing into files/ is reported missing, not taken for that file."""
    from echoshare.clinic.models import ExportedMedia

    dicom = _store(make_dicom)
    dicom_relative = dicom.relative_to(dicom.parents[4]).as_posix()
    media = upload_media(appointment)
    ExportedMedia.objects.filter(pk=media.pk).update(relative_path=dicom_relative)

    run = archive_verify()

    # The orphaned upload is younger than the in-flight window, so not yet "unindexed".
    assert (run.checked, run.missing, run.changed, run.unindexed) == (2, 1, 0, 0)
    assert run.problems == [{"problem": "missing", "path": dicom_relative}]
