"""Bad input (F1, F2): refused with a precise DIMSE status, nothing kept, nothing allocated."""

from __future__ import annotations

import random
import struct
import time
import tracemalloc
from pathlib import Path

import pytest
from pydicom import dcmread

from echoshare.archive import errors
from echoshare.archive.models import Instance, InstanceFile, Study
from echoshare.archive.services import IngestRefused, archive_tmp_dir, instance_store
from tests.archive.conftest import DICOM_ORIGIN, bundled

pytestmark = pytest.mark.django_db


def _pixel_offset(path: Path) -> int:
    with path.open("rb") as fp:
        dcmread(fp, stop_before_pixels=True)
        return fp.tell()


def _splice_before_pixels(path: Path, element: bytes) -> Path:
    data = path.read_bytes()
    offset = _pixel_offset(path)
    path.write_bytes(data[:offset] + element + data[offset:])
    return path


def _nested_undefined_length(levels: int) -> bytes:
    """ContentSequence inside ContentSequence ... `levels` deep, undefined lengths."""
    opening = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    opening += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return opening * levels + closing * levels


def _nested_defined_length(levels: int) -> bytes:
    element = b""
    for _ in range(levels):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(element)) + element
        element = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, len(item)) + item
    return element


# F1 "quickly": each refusal takes milliseconds; 2 s leaves room for a loaded 2-core CI
# machine while still failing a parser that reads, decodes or allocates what a file claims
# (4 GB, 65535 x 65535 x 1000 frames, 5000 nested sequences).
REFUSAL_SECONDS = 2.0


def _refused(path: Path) -> IngestRefused:
    started = time.monotonic()
    with pytest.raises(IngestRefused) as caught:
        instance_store(path=path, origin=DICOM_ORIGIN)
    elapsed = time.monotonic() - started
    assert elapsed < REFUSAL_SECONDS, f"refused after {elapsed:.2f} s"
    return caught.value


@pytest.fixture(autouse=True)
def _nothing_kept(archive_files):
    """After every refusal: no archived file, no temp file, no index row."""
    yield
    assert archive_files() == []
    assert list(archive_tmp_dir().iterdir()) == []
    assert not (
        Study.objects.exists() or Instance.objects.exists() or InstanceFile.objects.exists()
    )


def test_a_zero_byte_file_is_refused(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    assert _refused(empty).status == errors.CANNOT_UNDERSTAND


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_refused(tmp_path, seed):
    noise = random.Random(seed).randbytes(20_000)
    plain, with_preamble = tmp_path / "noise.dcm", tmp_path / "noise-dicm.dcm"
    plain.write_bytes(noise)
    with_preamble.write_bytes(b"\0" * 128 + b"DICM" + noise)

    assert _refused(plain).status == errors.CANNOT_UNDERSTAND
    assert _refused(with_preamble).status == errors.CANNOT_UNDERSTAND


@pytest.mark.parametrize(
    "name", ["examples_rgb_color.dcm", "examples_jpeg2k.dcm", "examples_ybr_color.dcm"]
)
@pytest.mark.parametrize("keep", [0.01, 0.05, 0.5, 0.999])
def test_truncated_files_are_refused(make_dicom, name, keep):
    source = make_dicom(name)
    data = source.read_bytes()
    source.write_bytes(data[: int(len(data) * keep)])

    assert _refused(source).status in (
        errors.CANNOT_UNDERSTAND,
        errors.DATASET_DOES_NOT_MATCH_SOP_CLASS,
    )


def test_deeply_nested_sequences_of_undefined_length_are_refused(make_dicom):
    source = _splice_before_pixels(make_dicom(), _nested_undefined_length(5000))
    assert _refused(source).status == errors.CANNOT_UNDERSTAND


def test_nesting_deeper_than_the_guard_is_refused_even_when_parseable(make_dicom):
    source = _splice_before_pixels(make_dicom(), _nested_defined_length(40))
    refusal = _refused(source)
    assert refusal.status == errors.CANNOT_UNDERSTAND
    assert "nested" in refusal.reason


def test_absurd_dimensions_are_refused_without_allocating_them(make_dicom):
    source = make_dicom(Rows=65535, Columns=65535, NumberOfFrames=1000)

    tracemalloc.start()
    try:
        refusal = _refused(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert refusal.status == errors.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert "budget" in refusal.reason
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize("vr", [b"OB", b"SQ", b"UN"])
def test_a_value_claiming_four_gigabytes_is_refused_without_reading_it(make_dicom, vr):
    # An element whose length runs far past the end of the file.
    huge = struct.pack("<HH2sHI", 0x0029, 0x1010, vr, 0, 0xFFFFFFF0) + b"\0" * 64
    source = _splice_before_pixels(make_dicom(), huge)

    tracemalloc.start()
    try:
        refusal = _refused(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert refusal.status in (errors.CANNOT_UNDERSTAND, errors.DATASET_DOES_NOT_MATCH_SOP_CLASS)
    assert peak < 20 * 1024 * 1024


def test_pixel_data_shorter_than_the_dimensions_is_refused(make_dicom):
    source = make_dicom(Rows=480)  # the pixels are for 240 rows
    assert _refused(source).status == errors.DATASET_DOES_NOT_MATCH_SOP_CLASS


def test_the_deflated_transfer_syntax_is_refused():
    refusal = _refused(bundled("image_dfl.dcm"))
    assert refusal.status == errors.CANNOT_UNDERSTAND
    assert "deflate" in refusal.reason


def test_big_endian_is_refused():
    assert _refused(bundled("ExplVR_BigEnd.dcm")).status == errors.CANNOT_UNDERSTAND


def test_sop_classes_outside_ultrasound_and_secondary_capture_are_refused():
    assert _refused(bundled("CT_small.dcm")).status == errors.SOP_CLASS_NOT_SUPPORTED


def test_a_missing_sop_instance_uid_is_refused(make_dicom):
    source = make_dicom()
    ds = dcmread(source)
    del ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    ds.save_as(source)
    assert _refused(source).status == errors.DATASET_DOES_NOT_MATCH_SOP_CLASS


@pytest.mark.parametrize("bad_uid", ["../../etc/x", "1.2.3/../../x", "1." + "2" * 80, "1.2.abc"])
def test_an_invalid_uid_is_refused_and_never_used_in_a_path(make_dicom, bad_uid, settings):
    source = make_dicom(SOPInstanceUID=bad_uid)
    assert _refused(source).status == errors.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert not (Path(settings.ARCHIVE_DIR).parent / "etc").exists()


def test_file_meta_naming_another_instance_is_refused(make_dicom):
    source = make_dicom()
    ds = dcmread(source)
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.save_as(source)
    assert _refused(source).status == errors.DATASET_DOES_NOT_MATCH_SOP_CLASS


def test_a_png_is_not_dicom(tmp_path):
    png = tmp_path / "photo.dcm"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 500)
    assert _refused(png).status == errors.CANNOT_UNDERSTAND


def test_a_refused_move_consumes_the_temp_file(make_dicom):
    temp = archive_tmp_dir() / "incoming.dcm"
    temp.write_bytes(b"garbage")
    with pytest.raises(IngestRefused):
        instance_store(path=temp, origin=DICOM_ORIGIN, move=True)
    assert not temp.exists()
