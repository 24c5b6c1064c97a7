"""Copies made from archived files go with them (WGBO 7:455, E5).

Staff thumbnails (unmasked) and the render cache (what publishing sends) are copies of the
patient's images: destruction on request and purge after retention remove them after their
commit, and `archive verify` sweeps whatever that left. Copies of other exams stay. Every
check looks at the files on disk under the data folder.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from echoshare.archive import storage
from echoshare.archive.fixity import archive_verify
from echoshare.archive.models import DestructionRequest, Instance, InstanceFile, Study
from echoshare.archive.retention import archive_purge, destruction_approve, destruction_request
from echoshare.archive.services import instance_store
from echoshare.archive.tasks import execute_destructions
from echoshare.clinic.exported_media import exported_media_render
from echoshare.clinic.models import Appointment, ExportedMedia, Patient
from echoshare.clinic.staff import receivers, thumbnails
from echoshare.imaging.cache import render_cached
from echoshare.imaging.masking import Rect
from tests.archive.conftest import DICOM_ORIGIN, MakeDicom, UploadMedia
from tests.clinic.staff import make_staff

pytestmark = pytest.mark.django_db

EXAM_DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DICOM_CROP = Rect(10, 10, 200, 150)  # inside the 320 x 240 example image
MEDIA_CROP = Rect(0, 0, 31, 23)  # inside the 64 x 48 uploads


def _exam(accession_number: str, patient_id: str) -> Appointment:
    patient = Patient.objects.create(
        patient_id=patient_id, family_name="Jansen", birth_date=date(1990, 7, 1)
    )
    return Appointment.objects.create(
        patient=patient,
        scheduled_at=EXAM_DAY,
        exam_type="echo",
        accession_number=accession_number,
        study_instance_uid=f"1.2.826.0.1.3680043.8.498.{patient_id[1:]}",
    )


def _fill(
    appointment: Appointment, make_dicom: MakeDicom, upload_media: UploadMedia, shade: int
) -> Study:
    """Two DICOM images and one exported PNG, each with its staff thumbnail and renders."""
    with time_machine.travel(EXAM_DAY, tick=False):
        for _ in range(2):
            instance_store(
                path=make_dicom(
                    StudyInstanceUID=appointment.study_instance_uid,
                    AccessionNumber=appointment.accession_number,
                    StudyDate="20260302",
                ),
                origin=DICOM_ORIGIN,
            )
        media = upload_media(appointment, shade=shade)
    study = Study.objects.get(appointment=appointment)
    for instance in Instance.objects.filter(study=study):
        assert thumbnails.thumbnail_make(instance=instance) is not None  # the staff job
        file = instance.current_file()
        assert file is not None
        for crop in (DICOM_CROP, Rect(0, 0, 99, 99)):  # two crops: two cache entries
            rendered = render_cached(
                storage.absolute(file.relative_path), file_hash=file.sha256, crop=crop
            )
            assert rendered.publishable
    assert thumbnails.media_thumbnail_make(media=media) is not None  # the upload's
    assert exported_media_render(media=media, crop=MEDIA_CROP).publishable
    return study


def _copies(settings: Any) -> set[Path]:
    """Every file under the data folder (thumbnails, renders, markers, anything)."""
    return {p for p in Path(settings.DATA_DIR).rglob("*") if p.is_file()}


def _hashes_of(appointment: Appointment) -> set[str]:
    dicom = InstanceFile.objects.filter(instance__study__appointment=appointment)
    media = ExportedMedia.objects.filter(appointment=appointment)
    return {*dicom.values_list("sha256", flat=True), *media.values_list("sha256", flat=True)}


def _named_by(copies: set[Path], hashes: set[str]) -> set[Path]:
    """The copies whose path names one of these SHA-256 (as thumbnails and the cache do)."""
    return {p for p in copies if any(h in p.as_posix() for h in hashes)}


@pytest.fixture
def kept(make_dicom: MakeDicom, upload_media: UploadMedia) -> Appointment:
    """Another patient's exam: its copies must survive everything below."""
    appointment = _exam("B1", "P2")
    _fill(appointment, make_dicom, upload_media, shade=20)
    return appointment


@pytest.fixture
def doomed(kept: Appointment, make_dicom: MakeDicom, upload_media: UploadMedia) -> Appointment:
    appointment = _exam("A1", "P1")
    _fill(appointment, make_dicom, upload_media, shade=10)
    return appointment


@pytest.fixture
def kept_copies(kept: Appointment, doomed: Appointment, settings: Any) -> set[Path]:
    copies = _copies(settings)
    ours = _named_by(copies, _hashes_of(kept))
    theirs = _named_by(copies, _hashes_of(doomed))
    # 3 thumbnails + 2 x 2 DICOM renders + 1 media render per exam, each render >= 3 files.
    thumbnail_dir = thumbnails.thumbnail_dir()
    assert len({p for p in theirs if p.is_relative_to(thumbnail_dir)}) == 3
    assert len({p.parent for p in theirs if p.name == "result.json"}) == 5
    assert ours and not ours & theirs
    return ours


def _approved(**target: Any) -> DestructionRequest:
    alice = make_staff("alice", "sonographer")[0]
    bob = make_staff("bob", "administrator")[0]
    request = destruction_request(requested_by=alice, reason="patient's letter", **target)
    return destruction_approve(request=request, approved_by=bob)


class TestDestruction:
    def test_destroying_a_study_removes_the_copies_of_its_images_and_its_exams_media(
        self, doomed, kept_copies, settings, django_capture_on_commit_callbacks
    ):
        _approved(study=Study.objects.get(appointment=doomed))

        with django_capture_on_commit_callbacks(execute=True):
            assert execute_destructions.call() == 1

        assert _copies(settings) == kept_copies

    def test_destroying_an_exam_removes_the_copies_of_all_it_held(
        self, doomed, kept_copies, settings, django_capture_on_commit_callbacks
    ):
        _approved(appointment=doomed)

        with django_capture_on_commit_callbacks(execute=True):
            assert execute_destructions.call() == 1

        assert not ExportedMedia.objects.filter(appointment=doomed).exists()
        assert _copies(settings) == kept_copies

    def test_copies_stay_until_the_destruction_commits(
        self, doomed, kept_copies, settings, django_capture_on_commit_callbacks
    ):
        before = _copies(settings)
        _approved(appointment=doomed)

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            execute_destructions.call()
        assert _copies(settings) == before  # the rows are gone only once this commits

        for callback in callbacks:
            callback()
        assert _copies(settings) == kept_copies

    def test_a_file_on_two_exams_keeps_its_copies_while_one_still_holds_it(
        self, doomed, kept, settings, upload_media, django_capture_on_commit_callbacks
    ):
        """The same PNG uploaded onto both exams: one thumbnail and one render for both."""
        with time_machine.travel(EXAM_DAY, tick=False):
            shared = [upload_media(doomed, shade=99), upload_media(kept, shade=99)]
        assert shared[0].sha256 == shared[1].sha256
        thumbnail = thumbnails.media_thumbnail_make(media=shared[1])
        assert thumbnail is not None
        render = exported_media_render(media=shared[1], crop=MEDIA_CROP)
        _approved(appointment=doomed)

        with django_capture_on_commit_callbacks(execute=True):
            execute_destructions.call()

        assert thumbnail.exists()
        assert all(path.exists() for path in render.outputs.values())


class TestPurge:
    def test_purge_removes_the_copies_of_what_it_purges(
        self, doomed, kept, settings, django_capture_on_commit_callbacks
    ):
        # The other exam got a late upload: it is retained a year longer.
        Study.objects.filter(appointment=kept).update(retain_until=date(2047, 1, 10))
        ExportedMedia.objects.filter(appointment=kept).update(retain_until=date(2047, 1, 10))
        kept_copies = _named_by(_copies(settings), _hashes_of(kept))

        with (
            time_machine.travel(datetime(2046, 3, 3, 12, tzinfo=UTC), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            report = archive_purge(dry_run=False)

        assert [row["exam"] for row in report.studies] == ["A1"]
        assert _copies(settings) == kept_copies


class TestFailuresAndRaces:
    def test_a_failing_removal_is_logged_and_the_next_verify_sweeps_the_copies(
        self, doomed, kept_copies, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
    ):
        def broken(sha256s: Any) -> int:
            raise PermissionError("thumbnail folder is read-only")

        monkeypatch.setattr(receivers, "thumbnails_remove", broken)
        _approved(appointment=doomed)

        with (
            caplog.at_level(logging.ERROR),
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert execute_destructions.call() == 1  # the destruction itself stands

        assert "read-only" in caplog.text
        assert DestructionRequest.objects.get().status == "executed"
        left = _copies(settings) - kept_copies
        assert left and all(p.is_relative_to(thumbnails.thumbnail_dir()) for p in left)

        run = archive_verify(source="cli")

        assert run.ok
        assert _copies(settings) == kept_copies

    def test_verify_sweeps_copies_whose_source_went_without_telling(
        self, doomed, kept_copies, settings
    ):
        """The copies of a deletion whose after-commit removal never ran (a crash)."""
        _approved(appointment=doomed)
        execute_destructions.call()  # the test's transaction: no after-commit callbacks
        assert _copies(settings) != kept_copies

        archive_verify(source="cli")

        assert _copies(settings) == kept_copies

    def test_verify_keeps_the_copies_of_files_archived_after_it_read_the_index(
        self, doomed, kept_copies, settings, monkeypatch
    ):
        from echoshare.archive import fixity

        before = _copies(settings)
        real_sweep = fixity._sweep_derived_copies
        # As if every file arrived after verify's pass: only the database knows them.
        monkeypatch.setattr(fixity, "_sweep_derived_copies", lambda archived: real_sweep(set()))

        archive_verify(source="cli")

        assert _copies(settings) == before

    def test_a_thumbnail_written_while_its_image_is_destroyed_is_removed_by_its_job(
        self, kept, make_dicom, settings, monkeypatch, django_capture_on_commit_callbacks
    ):
        before = _copies(settings)
        appointment = _exam("A2", "P3")
        with time_machine.travel(EXAM_DAY, tick=False):
            instance_store(
                path=make_dicom(StudyInstanceUID=appointment.study_instance_uid),
                origin=DICOM_ORIGIN,
            )
        instance = Instance.objects.get(study__appointment=appointment)
        _approved(appointment=appointment)
        real_encode = thumbnails.encode_thumbnail

        def destroyed_meanwhile(*args: Any, **kwargs: Any) -> bytes:
            data = real_encode(*args, **kwargs)  # the job decoded the image, then ...
            with django_capture_on_commit_callbacks(execute=True):
                assert execute_destructions.call() == 1  # ... the scheduler destroyed it
            return data

        monkeypatch.setattr(thumbnails, "encode_thumbnail", destroyed_meanwhile)

        assert thumbnails.thumbnail_make(instance=instance) is None

        assert _copies(settings) == before


class TestOrphanSweepOnDisk:
    @pytest.fixture
    def old(self) -> Iterator[float]:
        yield time.time() - 2 * 3600

    def test_half_written_thumbnails_of_dead_writers_go_and_fresh_ones_stay(
        self, kept, kept_copies, settings, old
    ):
        sha256 = next(iter(_hashes_of(kept)))
        folder = thumbnails.thumbnail_dir() / sha256[:2]
        dead, busy = folder / f".{sha256}.jpg.111.part", folder / f".{sha256}.jpg.222.part"
        for part in (dead, busy):
            part.write_bytes(b"half a jpeg")
        os.utime(dead, (old, old))
        unknown = folder / "README"
        unknown.write_text("not ours")

        archive_verify(source="cli")

        assert not dead.exists() and busy.exists() and unknown.exists()
        assert kept_copies <= _copies(settings)
