"""Upload onto an exam: DICOM through the archive's ingest, linked to the exam; exported
JPEG/PNG/MP4 kept with the exam; anything else, damaged, too large or oversize uploads
refused with a clear status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import dcmread

from echoshare.archive.models import Instance
from echoshare.clinic.models import Appointment, ExportedMedia, SelectedItem
from echoshare.lib.dicom_uid import new_uid
from tests.imaging.conftest import make_ultrasound
from tests.publishing.media_files import make_jpeg, make_mp4, make_png


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


def test_an_exported_jpeg_is_kept_with_the_exam_and_random_bytes_get_415(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    jpeg = make_jpeg(tmp_path / "export.jpg")
    junk = tmp_path / "junk.jpg"  # named like a JPEG: the content decides
    junk.write_bytes(b"not dicom at all" * 10)
    client = client_for("sonographer")
    with jpeg.open("rb") as f:
        response = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
    assert response.status_code == 200, response.content.decode()
    assert "stored with the exam" in response.content.decode()
    media = ExportedMedia.objects.get(appointment=exam)
    assert media.kind == "jpeg" and media.uploaded_by is not None
    with junk.open("rb") as f:
        response = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
    assert response.status_code == 415
    assert "refused" in response.content.decode()
    assert ExportedMedia.objects.count() == 1


def test_a_damaged_jpeg_gets_422_and_nothing_is_kept(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(make_jpeg(tmp_path / "whole.jpg").read_bytes()[:200])
    with damaged.open("rb") as f:
        response = client_for("sonographer").post(
            f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]}
        )
    assert response.status_code == 422
    assert "refused" in response.content.decode()
    assert not ExportedMedia.objects.exists()


def test_an_exported_png_over_the_pixel_budget_gets_422(
    client_for: Any, exam: Appointment, settings: Any, tmp_path: Path
) -> None:
    settings.IMAGING_PIXEL_BUDGET = 10_000  # the 320x240 test picture is over it
    png = make_png(tmp_path / "export.png")
    with png.open("rb") as f:
        response = client_for("sonographer").post(
            f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]}
        )
    assert response.status_code == 422
    assert "pixel budget" in response.content.decode()
    assert not ExportedMedia.objects.exists()


def test_front_desk_can_neither_upload_nor_tick_an_upload(
    client_for: Any, exam: Appointment, tmp_path: Path
) -> None:
    mp4 = make_mp4(tmp_path / "clip.mp4")
    with mp4.open("rb") as f:
        refused = client_for("frontdesk").post(
            f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]}
        )
    assert refused.status_code == 403
    assert not ExportedMedia.objects.exists()
    with mp4.open("rb") as f:
        client_for("administrator").post(
            f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]}
        )
    media = ExportedMedia.objects.get(appointment=exam)
    tick = {"keys": [media.key]}
    selection = f"/staff/exams/{exam.accession_number}/selection"
    assert client_for("frontdesk").post(selection, tick).status_code == 403
    assert not SelectedItem.objects.filter(media=media).exists()
    assert client_for("sonographer").post(selection, tick).status_code == 303
    assert SelectedItem.objects.filter(media=media).exists()


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
    jpeg = make_jpeg(tmp_path / "big.jpg")
    with jpeg.open("ab") as f:  # still a JPEG to its first bytes, but over the limit
        f.write(b"\0" * (1024 * 1024))
    with jpeg.open("rb") as f:
        response = client.post(f"/staff/exams/{exam.accession_number}/upload/", {"files": [f]})
    assert response.status_code == 413
    assert not ExportedMedia.objects.exists()
    assert client.post(f"/staff/exams/{exam.accession_number}/upload/").status_code == 400
