"""C-STORE round trips with real senders: dcmtk storescu and pynetdicom, every transfer syntax
machines send, both AE titles, deflate refused, parallel re-sends (E2), bad input over the
network (F1) and hostile UIDs (F2)."""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
from pathlib import Path

import pytest
from django.conf import settings
from pydicom import dcmread, uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pynetdicom import AE, _config
from pynetdicom.sop_class import UltrasoundImageStorage

from echoshare.archive.models import Instance, InstanceFile
from echoshare.dicomnet.spool import spool_files
from echoshare.imaging.decode import read_header
from echoshare.imaging.masking import Rect
from echoshare.imaging.render import RenderSettings, decide_mask, render_item
from tests.dicomnet.conftest import ENHANCED_US_VOLUME_STORAGE, dcmtk

pytestmark = pytest.mark.dicom


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archived(sop_instance_uid: str) -> InstanceFile:
    return InstanceFile.objects.select_related("instance").get(
        instance__sop_instance_uid=sop_instance_uid
    )


def _dataset_bytes(path: Path) -> bytes:
    """The bytes after the File Meta: what travelled on the wire."""
    ds = dcmread(path, stop_before_pixels=True)
    raw = path.read_bytes()
    meta_end = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
    return raw[meta_end:]


# storescu proposes a compressed syntax only when told to; JPEG process 14 (any selection
# value) has no such option and is sent by the pynetdicom test.
STORESCU_PROPOSE = {
    uid.ExplicitVRLittleEndian: "-xe",
    uid.ImplicitVRLittleEndian: "-xi",
    uid.JPEGBaseline8Bit: "-xy",
    uid.JPEGLosslessSV1: "-xs",
    uid.RLELossless: "-xr",
    uid.JPEG2000Lossless: "-xv",
    uid.JPEG2000: "-xw",
    uid.JPEGLSLossless: "-xt",
    uid.JPEGLSNearLossless: "-xu",
}


def _syntax(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)


def _elements(path: Path) -> dict[object, object]:
    """Every element but trailing padding (which storescu drops, as it may)."""
    return {elem.tag: elem.value for elem in dcmread(path) if elem.tag != 0xFFFCFFFC}


def _send(listener, *files: Path, called: str = "ECHOSHARE", calling: str = "US_ROOM1"):
    """storescu with -R (only the SOP classes of the files, as machines do) proposing the
    files' own transfer syntax."""
    propose = sorted({STORESCU_PROPOSE[_syntax(path)] for path in files})
    return dcmtk(
        "storescu", "-R", *propose, "-aec", called, "-aet", calling,
        listener.host, listener.port, *files,
    )  # fmt: skip


def test_it_archives_every_transfer_syntax_sent_by_storescu(listener, sample_files, caplog):
    caplog.set_level(logging.DEBUG, logger="echoshare.dicomnet")
    caplog.set_level(logging.DEBUG, logger="pynetdicom")
    files = [path for path in sample_files.values() if _syntax(path) in STORESCU_PROPOSE]
    assert len(files) == len(sample_files) - 1  # JPEG process 14: see the pynetdicom test
    for path in files:
        result = _send(listener, path)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"
    for path in files:
        sent = dcmread(path, stop_before_pixels=True)
        stored = _archived(sent.SOPInstanceUID)
        assert stored.transfer_syntax_uid == sent.file_meta.TransferSyntaxUID, path.name
        archived_path = Path(settings.ARCHIVE_DIR) / stored.relative_path
        # storescu re-encodes the header as it sends; the elements and pixel data arrive
        # unchanged (byte identity is checked with the pynetdicom sender).
        assert _elements(archived_path) == _elements(path), path.name
        assert stored.sha256 == _sha256(archived_path)
        assert stored.calling_ae_title == "US_ROOM1"
        assert stored.called_ae_title == "ECHOSHARE"
        assert stored.address == "127.0.0.1"
        assert not stored.instance.selected_for_patient
    assert spool_files() == []
    # The listener logs associations, not patients (the samples are "CompressedSamples^US1",
    # patient ID "13US1").
    listener_logs = " ".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("echoshare.dicomnet", "pynetdicom"))
    )
    assert "association released: calling US_ROOM1" in listener_logs
    assert "CompressedSamples" not in listener_logs
    assert "13US1" not in listener_logs


def test_it_marks_what_arrives_on_the_patient_ae_title(listener, sample_files):
    picked = sample_files["single_jpeg_baseline"]
    other = sample_files["single_rle"]
    assert _send(listener, other).returncode == 0
    assert _send(listener, picked, called="ECHOSHARE_PT").returncode == 0
    assert _archived(dcmread(picked).SOPInstanceUID).instance.selected_for_patient
    assert not _archived(dcmread(other).SOPInstanceUID).instance.selected_for_patient


def test_it_archives_once_what_is_sent_to_both_ae_titles(listener, sample_files):
    path = sample_files["cine_jpeg_baseline"]
    assert _send(listener, path).returncode == 0
    assert _send(listener, path, called="ECHOSHARE_PT").returncode == 0
    uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
    assert InstanceFile.objects.filter(instance__sop_instance_uid=uid).count() == 1
    assert Instance.objects.get(sop_instance_uid=uid).selected_for_patient


def test_it_archives_a_pynetdicom_sender_in_every_syntax(listener, sample_files):
    ae = AE(ae_title="PYSCU")
    for path in sample_files.values():
        sop_class = dcmread(path, stop_before_pixels=True).SOPClassUID
        ae.add_requested_context(sop_class, _syntax(path))
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    _config.STORE_SEND_CHUNKED_DATASET = True  # send the files' bytes as they are
    try:
        statuses = {path.name: assoc.send_c_store(path).Status for path in sample_files.values()}
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        assoc.release()
    assert set(statuses.values()) == {0x0000}, statuses
    for path in sample_files.values():
        sent = dcmread(path, stop_before_pixels=True)
        stored = _archived(sent.SOPInstanceUID)
        assert stored.calling_ae_title == "PYSCU"
        assert stored.transfer_syntax_uid == sent.file_meta.TransferSyntaxUID
        archived = Path(settings.ARCHIVE_DIR) / stored.relative_path
        assert archived.read_bytes().endswith(_dataset_bytes(path)), path.name


def test_it_refuses_deflate_at_negotiation(listener, sample_files):
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(UltrasoundImageStorage, DeflatedExplicitVRLittleEndian)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    # Nothing acceptable was proposed: pynetdicom's acceptor rejects or accepts no context.
    if assoc.is_established:
        assert assoc.accepted_contexts == []
        with pytest.raises(ValueError):
            assoc.send_c_store(dcmread(sample_files["single_explicit_le"]))
        assoc.release()
    result = dcmtk(
        "storescu", "-xd", "-R", "-aec", "ECHOSHARE", listener.host, listener.port,
        sample_files["single_explicit_le"],
    )  # fmt: skip
    # storescu proposes deflate first and falls back to what it may send uncompressed;
    # whatever was accepted, the listener never agreed to deflate.
    assert "Deflated" not in _accepted_syntaxes(result.stdout + result.stderr)
    assert not InstanceFile.objects.filter(transfer_syntax_uid=DeflatedExplicitVRLittleEndian)


def _accepted_syntaxes(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if "Accepted" in line)


def test_parallel_associations_resending_the_same_instances_leave_one_copy_each(
    listener, sample_files
):
    files = [sample_files[name] for name in ("single_explicit_le", "single_rle", "cine_rle")]
    results: list[int] = []

    def send() -> None:
        results.append(_send(listener, *files).returncode)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0, 0, 0, 0]
    for path in files:
        uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert InstanceFile.objects.filter(instance__sop_instance_uid=uid).count() == 1
    archive = Path(settings.ARCHIVE_DIR)
    archived = [p for p in archive.rglob("*.dcm") if "tmp" not in p.relative_to(archive).parts]
    assert len(archived) == len(files)


# --- bad input over the network (F1, F2) ----------------------------------------------------


def _raw_store(listener, payload: bytes, *, sop_instance_uid: str, tmp_path: Path) -> int:
    """Send `payload` as the C-STORE data set exactly as given (no encoding by pynetdicom)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    source = tmp_path / f"raw-{len(os.listdir(tmp_path))}.dcm"
    with source.open("wb") as out:
        out.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(out, meta)  # type: ignore[arg-type]
        out.write(payload)
    ae = AE(ae_title="PYSCU")
    ae.dimse_timeout = 20
    ae.add_requested_context(UltrasoundImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        status = assoc.send_c_store(source)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        assoc.release()
    return int(status.Status)


def _encoded(ds: Dataset) -> bytes:
    """The data set in explicit VR little endian, without File Meta."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


def _us_header(sop_instance_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = UltrasoundImageStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "F1"
    ds.Modality = "US"
    return ds


def _absurd(uid: str) -> bytes:
    ds = _us_header(uid)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, "1000"
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 3, 8, 8, 7
    ds.PhotometricInterpretation = "RGB"
    ds.PixelRepresentation = 0
    ds.PlanarConfiguration = 0
    ds.PixelData = b"\0" * 16
    return _encoded(ds)


def _nested(uid: str, depth: int = 5000) -> bytes:
    """A header followed by sequences nested `depth` deep, written by hand (undefined
    lengths), deeper than any recursive reader can follow."""
    sequence_start = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF)
    item_start = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    sequence_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    nesting = (sequence_start + item_start) * depth + (item_end + sequence_end) * depth
    return _encoded(_us_header(uid)) + nesting


def test_bad_data_sets_get_failure_statuses_and_the_listener_keeps_serving(
    listener, sample_files, tmp_path
):
    import time  # local: this test is the only user in the module

    good = _encoded(dcmread(sample_files["single_explicit_le"]))
    cases = {
        "zero bytes": b"",
        "random bytes": os.urandom(4096),
        "truncated": good[: len(good) // 2],
        "absurd dimensions": None,
        "nested sequences": None,
    }
    for name in cases:
        uid = generate_uid()
        if name == "absurd dimensions":
            payload = _absurd(uid)
        elif name == "nested sequences":
            payload = _nested(uid)
        else:
            payload = cases[name] or b""
        started = time.monotonic()
        status = _raw_store(listener, payload, sop_instance_uid=uid, tmp_path=tmp_path)
        elapsed = time.monotonic() - started
        assert status not in (0x0000, 0xB000, 0xB007, 0xB006), name
        # F1 "quickly", association included: milliseconds on loopback, 2 s for a loaded
        # machine; a listener that read or allocated what the data set claims takes longer.
        assert elapsed < 2.0, (name, f"answered after {elapsed:.2f} s")
        assert not Instance.objects.filter(sop_instance_uid=uid).exists(), name
    assert spool_files() == []
    result = _send(listener, sample_files["single_explicit_le"])
    assert result.returncode == 0, result.stderr
    uid = dcmread(sample_files["single_explicit_le"], stop_before_pixels=True).SOPInstanceUID
    assert Instance.objects.filter(sop_instance_uid=uid).exists()


def test_a_path_in_the_sop_instance_uid_never_leaves_the_archive(listener, tmp_path):
    hostile = "../../etc/x"
    ds = _us_header(hostile)
    ds.StudyInstanceUID = "../../../tmp/echoshare-f2"
    status = _raw_store(listener, _encoded(ds), sop_instance_uid=hostile, tmp_path=tmp_path)
    archive = Path(settings.ARCHIVE_DIR).resolve()
    for stored in InstanceFile.objects.all():
        assert (archive / stored.relative_path).resolve().is_relative_to(archive)
        assert ".." not in stored.relative_path
    assert not (archive.parent.parent / "etc" / "x").exists()
    assert not Path("/tmp/echoshare-f2").exists()
    # Refused (not a valid UID) or stored under a generated name: both are safe.
    assert status == 0x0000 or status >= 0xA000 or status == 0x0110


# --- Enhanced US Volume ---------------------------------------------------------------------


def test_an_enhanced_us_volume_is_archived_and_indexed(listener, enhanced_us_volume, tmp_path):
    result = _send(listener, enhanced_us_volume, called="ECHOSHARE_PT")
    assert result.returncode == 0, result.stderr
    sent = dcmread(enhanced_us_volume, stop_before_pixels=True)
    stored = _archived(sent.SOPInstanceUID)
    instance = stored.instance
    assert instance.sop_class_uid == ENHANCED_US_VOLUME_STORAGE
    assert instance.number_of_frames == 30
    assert instance.selected_for_patient
    assert instance.study.study_instance_uid == sent.StudyInstanceUID
    assert stored.transfer_syntax_uid == uid.JPEGBaseline8Bit
    archived = Path(settings.ARCHIVE_DIR) / stored.relative_path
    assert _elements(archived) == _elements(enhanced_us_volume)
    assert spool_files() == []

    # What docs/dicom-conformance.md says patients get: without a Sequence of Ultrasound
    # Regions (not part of this IOD) it needs a staff crop, then its planes play as a clip.
    header = read_header(archived, pixel_budget=RenderSettings().pixel_budget)
    assert decide_mask(header).branch == "needs_review"
    rendered = render_item(
        archived, out_dir=tmp_path, settings=RenderSettings(), crop=Rect(10, 10, 309, 229)
    )
    assert rendered.branch == "staff_crop"
    assert set(rendered.outputs) == {"still", "thumbnail", "clip"}
    assert rendered.frames == 30
    assert rendered.still_frame == 15  # the middle plane
    assert rendered.frame_rate == 30  # no frame timing at the top level: the default rate
