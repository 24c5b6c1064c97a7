"""`echoshare archive export STUDY --out FILE.zip`: the original files, verified and audited."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from echoshare.archive.models import InstanceFile, Study
from echoshare.archive.services import instance_store
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from tests.archive.conftest import DICOM_ORIGIN

pytestmark = pytest.mark.django_db

STUDY_UID = "1.2.826.0.1.3680043.8.498.55"


@pytest.fixture
def study(make_dicom) -> Study:
    for name in ("examples_rgb_color.dcm", "examples_ybr_color.dcm", "SC_rgb_rle_2frame.dcm"):
        instance_store(
            path=make_dicom(name, StudyInstanceUID=STUDY_UID, PatientID="P5"), origin=DICOM_ORIGIN
        )
    instance_store(path=make_dicom(), origin=DICOM_ORIGIN)  # another study: not exported
    return Study.objects.get(study_instance_uid=STUDY_UID)


def test_it_writes_every_instance_of_the_study_byte_for_byte(study, tmp_path):
    out = tmp_path / "export.zip"

    call_command("archive", "export", STUDY_UID, "--out", str(out))

    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        hashes = {hashlib.sha256(archive.read(name)).hexdigest() for name in names}
    assert names == ["DICOM/0001.dcm", "DICOM/0002.dcm", "DICOM/0003.dcm"]
    assert hashes == set(
        InstanceFile.objects.filter(instance__study=study).values_list("sha256", flat=True)
    )


def test_it_accepts_the_study_key_and_records_who_exported(study, tmp_path):
    from django.contrib.auth.models import User

    User.objects.create_user("admin1")
    call_command(
        "archive", "--user", "admin1", "export", study.key, "--out", str(tmp_path / "e.zip")
    )

    record = AuditRecord.objects.get(event=events.STUDY_EXPORTED)
    assert (record.username, record.patient_ref, record.object_ref) == (
        "admin1",
        "P5",
        f"study:{study.key}",
    )


def test_a_damaged_file_stops_the_export_and_leaves_no_zip(study, tmp_path, settings):
    damaged = InstanceFile.objects.filter(instance__study=study).first()
    (Path(settings.ARCHIVE_DIR) / damaged.relative_path).write_bytes(b"tampered")
    out = tmp_path / "export.zip"

    with pytest.raises(CommandError, match="does not match its SHA-256"):
        call_command("archive", "export", STUDY_UID, "--out", str(out))

    assert not out.exists()
    assert list(tmp_path.glob("export.zip*")) == []
    assert not AuditRecord.objects.filter(event=events.STUDY_EXPORTED).exists()


def test_an_unknown_study_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no archived study"):
        call_command("archive", "export", "1.2.3", "--out", str(tmp_path / "x.zip"))
