"""Upload onto an exam: DICOM through the archive's ingest, linked to the exam; exported
media and oversize uploads refused with a clear status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import dcmread

from echoshare.archive.models import Instance
from echoshare.clinic.models import Appointment
from echoshare.lib.dicom_uid import new_uid
from tests.imaging.conftest import make_ultrasound


def _dicom(folder: Path, **keywords: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = make_ultrasound(folder / f"{new_uid()}.dcm")
    ds = dcmread(path)
    ds.StudyInstanceUID = keywords.get("StudyInstanceUID", new_uid())
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = new_uid()
    ds.AccessionNumber = ""
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dropped_dicom_files_are_archived_and_added_to_the_exam(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    path = _dicom(tmp_path / "usb")  # a study UID the exam does not know
    client = client_for("sonographer")
    with path.open("rb") as f:
        response = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
    assert response.status_code == 200, response.content.decode()
    assert "archived" in response.content.decode()
    instance = Instance.objects.get(sop_instance_uid=dcmread(path).SOPInstanceUID)
    assert instance.study.appointment_id == exam.pk
    with path.open("rb") as f:  # the same file again: one copy
        again = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
    assert "already archived" in again.content.decode()


def test_exported_jpeg_and_random_bytes_are_refused_with_415(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    from PIL import Image

    jpeg = tmp_path / "export.jpg"
    Image.new("RGB", (40, 30)).save(jpeg)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not dicom at all" * 10)
    client = client_for("sonographer")
    for path in (jpeg, junk):
        with path.open("rb") as f:
            response = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
        assert response.status_code == 415, path.name
        assert "refused" in response.content.decode()


def test_an_upload_over_the_limit_gets_413_and_an_empty_one_400(
    client_for: Any, exam: Appointment, settings: Any, tmp_path: Path
) -> None:
    settings.ARCHIVE_UPLOAD_MAX_MB = 1
    big = tmp_path / "big.dcm"
    big.write_bytes(b"\0" * (1024 * 1024 + 10))
    client = client_for("sonographer")
    with big.open("rb") as f:
        response = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
    assert response.status_code == 413
    assert client.post(f"/staff/exams/{exam.accession_number}/upload/").status_code == 400
