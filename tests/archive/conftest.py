"""Fixtures of the archive tests: DICOM files made from pydicom's bundled examples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from echoshare.archive.services import IngestOrigin
from echoshare.lib.dicom_uid import new_uid

MakeDicom = Callable[..., Path]

DICOM_ORIGIN = IngestOrigin(
    source="dicom", calling_ae="US_ROOM_1", called_ae="ECHOSHARE", address="127.0.0.1"
)


def bundled(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(str(path))


@pytest.fixture
def make_dicom(tmp_path: Path) -> MakeDicom:
    """make_dicom(base="examples_rgb_color.dcm", **keywords) -> a new Part 10 file.

    Every file gets fresh Study/Series/SOP Instance UIDs unless given; keywords set
    dataset attributes by DICOM keyword (PatientID="P1", AccessionNumber="A1").
    """
    counter = iter(range(1_000_000))

    def make(base: str = "examples_rgb_color.dcm", **keywords: Any) -> Path:
        ds = dcmread(bundled(base))
        ds.StudyInstanceUID = keywords.pop("StudyInstanceUID", new_uid())
        ds.SeriesInstanceUID = keywords.pop("SeriesInstanceUID", new_uid())
        ds.SOPInstanceUID = keywords.pop("SOPInstanceUID", new_uid())
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for keyword, value in keywords.items():
            setattr(ds, keyword, value)
        path = tmp_path / "made" / f"{next(counter):04d}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return path

    return make


@pytest.fixture
def archive_files(settings: Any) -> Callable[[], list[Path]]:
    """Everything visible under ARCHIVE_DIR/files (what counts as archived)."""

    def listing() -> list[Path]:
        root = Path(settings.ARCHIVE_DIR) / "files"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    return listing


UploadMedia = Callable[..., Any]


@pytest.fixture
def upload_media() -> UploadMedia:
    """upload_media(appointment, shade=0) -> ExportedMedia: a small PNG kept through the real
    `exported_media_store`, as the staff upload does (a new shade gives new bytes)."""
    from PIL import Image

    from echoshare.archive import storage
    from echoshare.clinic.exported_media import exported_media_store

    def upload(appointment: Any, shade: int = 0) -> Any:
        path = storage.new_temp_path(".png")
        Image.new("RGB", (64, 48), (shade, 90, 160)).save(path, format="PNG")
        media, created = exported_media_store(
            appointment=appointment, path=path, name="export.png", user=None
        )
        assert created
        return media

    return upload
