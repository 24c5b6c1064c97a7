"""instance_store: what an accepted instance leaves behind (CONVENTIONS 5, E2, F2)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pydicom import dcmread

from echoshare.archive.models import Instance, InstanceFile, Study
from echoshare.archive.services import (
    IngestOrigin,
    Written,
    archive_temp_write,
    archive_tmp_dir,
    instance_store,
)
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, Patient
from echoshare.lib.dicom_uid import new_uid
from tests.archive.conftest import DICOM_ORIGIN, bundled

pytestmark = pytest.mark.django_db

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _appointment(accession: str = "ACC1", patient_id: str = "P100", when: datetime | None = None):
    patient, _ = Patient.objects.get_or_create(
        patient_id=patient_id,
        defaults={"family_name": "Jansen", "given_name": "Eva", "birth_date": date(1990, 5, 1)},
    )
    return Appointment.objects.create(
        patient=patient,
        scheduled_at=when or datetime(2026, 3, 2, 9, 30, tzinfo=AMSTERDAM),
        exam_type="20-week scan",
        accession_number=accession,
    )


def test_it_stores_the_bytes_as_received_with_hash_size_and_origin(make_dicom, settings):
    source = make_dicom()
    result = instance_store(path=source, origin=DICOM_ORIGIN)

    assert result.created
    stored = InstanceFile.objects.get()
    archived = Path(settings.ARCHIVE_DIR) / stored.relative_path
    assert archived.read_bytes() == source.read_bytes()
    assert stored.sha256 == _sha256(source)
    assert stored.size == source.stat().st_size
    assert (stored.calling_ae_title, stored.called_ae_title, stored.address) == (
        "US_ROOM_1",
        "ECHOSHARE",
        "127.0.0.1",
    )
    assert stored.source == "dicom"
    assert stored.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    instance = result.instance
    assert (instance.rows, instance.columns, instance.number_of_frames) == (240, 320, 1)
    assert instance.sop_class_uid == "1.2.840.10008.5.1.4.1.1.6.1"
    assert source.exists()  # copied, not moved


def test_it_makes_the_path_itself_never_from_dataset_values(make_dicom):
    source = make_dicom(
        PatientID="../../etc", AccessionNumber="../x", StudyDescription="/etc/passwd"
    )
    result = instance_store(path=source, origin=DICOM_ORIGIN)

    relative = result.instance.files.get().relative_path
    assert relative.startswith("files/")
    assert ".." not in relative
    assert result.instance.sop_instance_uid not in relative
    assert result.instance.study.study_instance_uid not in relative


def test_it_stores_an_identical_resend_once(make_dicom, archive_files):
    source = make_dicom()
    first = instance_store(path=source, origin=DICOM_ORIGIN)
    again = instance_store(path=source, origin=DICOM_ORIGIN)

    assert first.created and not again.created
    assert again.instance.pk == first.instance.pk
    assert InstanceFile.objects.count() == 1
    assert len(archive_files()) == 1
    assert not list(archive_tmp_dir().iterdir())


def test_a_differing_resend_becomes_a_new_version(make_dicom, archive_files):
    uid = "1.2.826.0.1.3680043.8.498.1"
    study_uid = "1.2.826.0.1.3680043.8.498.2"
    first = make_dicom(SOPInstanceUID=uid, StudyInstanceUID=study_uid, ImageComments="first")
    second = make_dicom(SOPInstanceUID=uid, StudyInstanceUID=study_uid, ImageComments="fixed")

    instance_store(path=first, origin=DICOM_ORIGIN)
    result = instance_store(path=second, origin=DICOM_ORIGIN)

    assert result.created
    versions = list(result.instance.files.order_by("version").values_list("version", "sha256"))
    assert versions == [(1, _sha256(first)), (2, _sha256(second))]
    assert result.instance.current_file().sha256 == _sha256(second)
    assert len(archive_files()) == 2


def test_the_patient_ae_marks_the_instance_selected_and_archives_it_once(make_dicom):
    source = make_dicom()
    patient_origin = IngestOrigin(
        source="dicom", calling_ae="US1", called_ae="ECHOSHARE_PT", for_patient=True
    )

    instance_store(path=source, origin=DICOM_ORIGIN)
    assert not Instance.objects.get().selected_for_patient
    result = instance_store(path=source, origin=patient_origin)

    assert not result.created
    assert Instance.objects.get().selected_for_patient
    assert InstanceFile.objects.count() == 1


def test_move_renames_a_file_from_the_archive_tmp_folder(make_dicom):
    data = make_dicom().read_bytes()
    temp = archive_temp_write(chunks=[data[:1000], data[1000:]])
    assert temp.parent == archive_tmp_dir()

    result = instance_store(path=temp, origin=DICOM_ORIGIN, move=True)

    assert result.created
    assert not temp.exists()
    assert result.instance.files.get().sha256 == hashlib.sha256(data).hexdigest()


def test_a_hash_taken_while_writing_is_kept_and_the_file_not_read_back(make_dicom):
    data = make_dicom().read_bytes()
    temp = archive_temp_write(chunks=[data])
    as_written = Written(sha256="ab" * 32, size=len(data))  # not the file's: proves the use

    result = instance_store(path=temp, origin=DICOM_ORIGIN, move=True, written=as_written)

    assert result.instance.files.get().sha256 == "ab" * 32


def test_a_file_whose_size_differs_from_what_was_written_is_hashed(make_dicom):
    data = make_dicom().read_bytes()
    temp = archive_temp_write(chunks=[data])
    as_written = Written(sha256="ab" * 32, size=len(data) - 1)

    result = instance_store(path=temp, origin=DICOM_ORIGIN, move=True, written=as_written)

    assert result.instance.files.get().sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "name",
    [
        "examples_rgb_color.dcm",  # US, explicit little endian
        "examples_palette.dcm",  # US, palette colour
        "examples_ybr_color.dcm",  # US multi-frame, JPEG baseline, 30 frames
        "examples_jpeg2k.dcm",  # US, JPEG 2000 lossless
        "SC_rgb_rle_2frame.dcm",  # SC, RLE
        "SC_rgb_jpeg_gdcm.dcm",  # SC, JPEG lossless
        "SC_rgb_jls_lossy_line.dcm",  # SC, JPEG-LS
        "SC_rgb_jpeg_dcmd.dcm",  # SC, implicit little endian
        "JPGExtended.dcm",  # SC, JPEG extended
    ],
)
def test_it_accepts_the_transfer_syntaxes_machines_send(make_dicom, name):
    source = make_dicom(name)
    result = instance_store(path=source, origin=DICOM_ORIGIN)

    assert result.created
    expected = dcmread(source, stop_before_pixels=True)
    assert result.instance.files.get().transfer_syntax_uid == expected.file_meta.TransferSyntaxUID
    assert result.instance.number_of_frames == int(expected.get("NumberOfFrames", 1) or 1)


def test_it_accepts_the_bundled_file_unchanged():
    result = instance_store(path=bundled("examples_ybr_color.dcm"), origin=DICOM_ORIGIN)
    assert result.instance.number_of_frames == 30
    assert result.instance.sop_class_uid == "1.2.840.10008.5.1.4.1.1.3.1"


class TestLinking:
    def test_it_links_by_accession_number_first(self, make_dicom):
        appointment = _appointment("ACC1")
        other = _appointment("ACC2")
        source = make_dicom(AccessionNumber="ACC1", StudyInstanceUID=other.study_instance_uid)

        study = instance_store(path=source, origin=DICOM_ORIGIN).instance.study

        assert study.appointment == appointment

    def test_it_links_by_study_instance_uid_second(self, make_dicom):
        appointment = _appointment("ACC1")
        source = make_dicom(AccessionNumber="", StudyInstanceUID=appointment.study_instance_uid)

        assert (
            instance_store(path=source, origin=DICOM_ORIGIN).instance.study.appointment
            == appointment
        )

    def test_it_links_by_patient_id_and_study_date_in_the_clinic_time_zone(self, make_dicom):
        # 00:30 in Amsterdam is the previous day in UTC: the clinic's day counts.
        appointment = _appointment("ACC1", "P7", datetime(2026, 3, 2, 0, 30, tzinfo=AMSTERDAM))
        source = make_dicom(AccessionNumber="", PatientID="P7", StudyDate="20260302")

        assert (
            instance_store(path=source, origin=DICOM_ORIGIN).instance.study.appointment
            == appointment
        )

    def test_the_clinic_day_ends_at_local_midnight(self, make_dicom):
        late = _appointment("ACC1", "P7", datetime(2026, 3, 2, 23, 59, tzinfo=AMSTERDAM))
        _appointment("ACC2", "P7", datetime(2026, 3, 3, 0, 0, tzinfo=AMSTERDAM))
        source = make_dicom(AccessionNumber="", PatientID="P7", StudyDate="20260302")

        assert instance_store(path=source, origin=DICOM_ORIGIN).instance.study.appointment == late

    def test_what_matches_nothing_goes_to_the_unmatched_list(self, make_dicom):
        _appointment("ACC1", "P7")
        source = make_dicom(AccessionNumber="NOPE", PatientID="P8", StudyDate="20260302")

        study = instance_store(path=source, origin=DICOM_ORIGIN).instance.study

        assert study.appointment is None
        assert list(Study.objects.unmatched()) == [study]
        assert study.patient_id == "P8"


@time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=AMSTERDAM), tick=False)
def test_retain_until_is_the_later_of_exam_date_and_last_change_plus_retention_years(
    make_dicom, settings
):
    settings.RETENTION_YEARS = 25
    study_uid = "1.2.826.0.1.3680043.8.498.9"
    old_exam = make_dicom(StudyInstanceUID=study_uid, StudyDate="20200101")

    study = instance_store(path=old_exam, origin=DICOM_ORIGIN).instance.study

    assert study.retain_until == date(2051, 3, 2)  # received today: the last change


def test_it_records_one_audit_record_per_stored_image(make_dicom):
    _appointment("ACC9", "P9")
    source = make_dicom(AccessionNumber="ACC9")

    instance = instance_store(path=source, origin=DICOM_ORIGIN).instance
    instance_store(path=source, origin=DICOM_ORIGIN)  # identical re-send: no change, no record

    record = AuditRecord.objects.get(event=events.IMAGE_STORED)
    assert record.patient_ref == "P9"
    assert record.object_ref == f"instance:{instance.key}"
    assert record.source == "dicom:US_ROOM_1@127.0.0.1"
    assert record.outcome == "success"


def test_staff_link_an_unmatched_study_by_hand_and_it_is_audited(make_dicom):
    from django.contrib.auth.models import User

    from echoshare.archive.services import study_link

    study = instance_store(
        path=make_dicom(AccessionNumber="UNKNOWN"), origin=DICOM_ORIGIN
    ).instance.study
    appointment = _appointment("ACC5", "P5")
    staff = User.objects.create_user("sonja")

    study_link(study=study, appointment=appointment, user=staff)

    assert not Study.objects.unmatched().exists()
    record = AuditRecord.objects.get(event=events.INSTANCE_LINKED)
    assert (record.username, record.patient_ref) == ("sonja", "P5")


def test_a_later_batch_links_a_study_once_its_appointment_exists(make_dicom):
    study_uid = "1.2.826.0.1.3680043.8.498.31"

    def send() -> Study:
        source = make_dicom(StudyInstanceUID=study_uid, AccessionNumber="LATE")
        return instance_store(path=source, origin=DICOM_ORIGIN).instance.study

    send()
    appointment = _appointment("LATE")
    assert send().appointment is None  # same transfer: not looked up again for every image

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert send().appointment == appointment


def test_a_received_dataset_written_with_the_helper_is_stored_as_received(make_dicom, settings):
    from echoshare.archive.services import archive_temp_write_dataset

    original = make_dicom()
    ds = dcmread(original)
    data = original.read_bytes()
    encoded = data[132 + _meta_length(data[132:]) :]  # what a C-STORE carries: no meta

    temp = archive_temp_write_dataset(file_meta=ds.file_meta, encoded_dataset=encoded)
    result = instance_store(path=temp, origin=DICOM_ORIGIN, move=True)

    archived = (Path(settings.ARCHIVE_DIR) / result.instance.files.get().relative_path).read_bytes()
    assert archived.endswith(encoded)
    assert archived[128:] == data[128:]  # the preamble is ours (the example has a TIFF one)
    assert not temp.exists()


def _meta_length(meta_onwards: bytes) -> int:
    """Length of the File Meta group: its group length element plus the value it gives."""
    import struct

    (group_length,) = struct.unpack("<I", meta_onwards[8:12])
    return 12 + group_length


@pytest.mark.django_db(transaction=True)
def test_the_instance_stored_signal_is_sent_after_the_commit(make_dicom):
    from echoshare.archive.signals import instance_stored

    seen: list[tuple[str, bool, bool]] = []

    def receiver(sender, instance, created, for_patient, **kwargs):
        # After the commit: another query sees the row.
        assert InstanceFile.objects.filter(instance_id=instance.pk).exists()
        seen.append((instance.sop_instance_uid, created, for_patient))

    instance_stored.connect(receiver)
    try:
        source = make_dicom()
        uid = instance_store(path=source, origin=DICOM_ORIGIN).instance.sop_instance_uid
        instance_store(path=source, origin=DICOM_ORIGIN)  # identical: nothing new to say
    finally:
        instance_stored.disconnect(receiver)

    assert seen == [(uid, True, False)]


def _index_statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements of an ingest, without the transaction control around them."""
    control = ("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(control)]


def test_an_image_of_a_new_study_is_indexed_in_nine_statements(make_dicom):
    # One scanner association sends one image at a time: each statement is latency on every
    # image (issue 4). Lookup of the instance, the study and the appointment, one INSERT per
    # row, and the audit chain's head read + record + head update.
    instance_store(path=make_dicom(), origin=DICOM_ORIGIN)  # the audit chain's head exists
    source = make_dicom(PatientID="P1", StudyDate="20260302")
    with CaptureQueriesContext(connection) as queries:
        assert instance_store(path=source, origin=DICOM_ORIGIN).created
    statements = _index_statements(queries)
    assert len(statements) == 9, "\n".join(sql[:70] for sql in statements)


def test_a_further_image_of_the_study_is_indexed_in_eight_statements(make_dicom):
    study_uid = new_uid()
    instance_store(path=make_dicom(StudyInstanceUID=study_uid), origin=DICOM_ORIGIN)
    with CaptureQueriesContext(connection) as queries:
        instance_store(path=make_dicom(StudyInstanceUID=study_uid), origin=DICOM_ORIGIN)
    statements = _index_statements(queries)
    assert len(statements) == 8, statements
    assert sum(sql.startswith('UPDATE "archive_study"') for sql in statements) == 1
