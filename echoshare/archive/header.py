"""Reading and checking the header of an incoming DICOM file, without reading its pixels (F1).

`header_read` parses the File Meta and the dataset up to PixelData with pydicom (large values
are skipped by seeking, never read), then walks the PixelData element's framing itself:
every claimed length is checked against the file's real size before anything trusts it, so
a header claiming gigabytes costs nothing. Anything wrong raises `IngestRefused` with the
DIMSE status to answer.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from pydicom import dcmread, uid
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.tag import Tag

from echoshare.archive.errors import (
    CANNOT_UNDERSTAND,
    DATASET_DOES_NOT_MATCH_SOP_CLASS,
    SOP_CLASS_NOT_SUPPORTED,
    IngestRefused,
)

SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.6.2": "Enhanced US Volume",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
    # Retired, still sent by older machines.
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image (retired)",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image (retired)",
}

NATIVE_TRANSFER_SYNTAXES = {uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian}
ENCAPSULATED_TRANSFER_SYNTAXES = {
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.RLELossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
}
TRANSFER_SYNTAXES = NATIVE_TRANSFER_SYNTAXES | ENCAPSULATED_TRANSFER_SYNTAXES

MAX_SEQUENCE_DEPTH = 16  # real ultrasound files nest 4 deep at most
_DEFER_SIZE = 64 * 1024  # values larger than this are skipped by seeking, never read
_MAX_FRAGMENTS = 1_000_000
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True)
class InstanceHeader:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    patient_id: str
    patient_name: str
    accession_number: str
    study_date: date | None
    study_description: str
    modality: str
    instance_number: int | None
    number_of_frames: int
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int

    def pixel_bytes(self) -> int:
        """Size of the decoded pixels the header claims."""
        bits = self.rows * self.columns * self.number_of_frames
        return (bits * self.samples_per_pixel * self.bits_allocated + 7) // 8


def header_read(path: Path) -> InstanceHeader:
    """Check the file at `path` and return what the archive indexes; IngestRefused if bad."""
    size = path.stat().st_size
    if size == 0:
        raise IngestRefused(CANNOT_UNDERSTAND, "empty file")
    with path.open("rb") as fp:
        lead = fp.read(132)
        if len(lead) < 132 or lead[128:132] != b"DICM":
            raise IngestRefused(CANNOT_UNDERSTAND, "not a DICOM file (no DICM preamble)")
        try:
            transfer_syntax = _transfer_syntax(path)
            fp.seek(0)
            ds = dcmread(fp, stop_before_pixels=True, defer_size=_DEFER_SIZE)
            pixel_offset = fp.tell()
            header = _header(ds, transfer_syntax)
            _check_nesting(ds, depth=1, size=size)
            _check_pixel_data(fp, pixel_offset, size, header)
        except IngestRefused:
            raise
        except Exception as exc:
            # pydicom raises many kinds of exception on malformed input (struct.error,
            # EOFError, RecursionError for runaway nesting, ValueError ...): all mean that
            # the file cannot be understood, and none may take the receiver down.
            raise IngestRefused(
                CANNOT_UNDERSTAND, f"unreadable DICOM header ({type(exc).__name__})"
            ) from exc
    return header


def _transfer_syntax(path: Path) -> str:
    meta = read_file_meta_info(path)
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")).strip("\0 ")
    if transfer_syntax == uid.DeflatedExplicitVRLittleEndian:
        raise IngestRefused(CANNOT_UNDERSTAND, "deflated transfer syntax is not accepted")
    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise IngestRefused(
            CANNOT_UNDERSTAND, f"transfer syntax {_printable(transfer_syntax)} is not accepted"
        )
    return transfer_syntax


def _header(ds: Dataset, transfer_syntax: str) -> InstanceHeader:
    sop_class = _uid(ds, "SOPClassUID") or _uid(ds.file_meta, "MediaStorageSOPClassUID")
    if sop_class not in SOP_CLASSES:
        raise IngestRefused(
            SOP_CLASS_NOT_SUPPORTED, f"SOP class {sop_class or '(none)'} is not archived"
        )
    meta_class = _uid(ds.file_meta, "MediaStorageSOPClassUID")
    sop_instance = _uid(ds, "SOPInstanceUID", required=True)
    meta_instance = _uid(ds.file_meta, "MediaStorageSOPInstanceUID")
    if (meta_class and meta_class != sop_class) or (
        meta_instance and meta_instance != sop_instance
    ):
        raise IngestRefused(
            DATASET_DOES_NOT_MATCH_SOP_CLASS, "File Meta and dataset name different instances"
        )
    header = InstanceHeader(
        sop_class_uid=sop_class,
        sop_instance_uid=sop_instance,
        study_instance_uid=_uid(ds, "StudyInstanceUID", required=True),
        series_instance_uid=_uid(ds, "SeriesInstanceUID", required=True),
        transfer_syntax_uid=transfer_syntax,
        patient_id=_text(ds, "PatientID", 64),
        patient_name=_text(ds, "PatientName", 200),
        accession_number=_text(ds, "AccessionNumber", 16),
        study_date=_date(_text(ds, "StudyDate", 8)),
        study_description=_text(ds, "StudyDescription", 128),
        modality=_text(ds, "Modality", 16),
        instance_number=_int(ds, "InstanceNumber", default=None),
        number_of_frames=_int(ds, "NumberOfFrames", default=1) or 1,
        rows=_int(ds, "Rows", default=0) or 0,
        columns=_int(ds, "Columns", default=0) or 0,
        samples_per_pixel=_int(ds, "SamplesPerPixel", default=1) or 1,
        bits_allocated=_int(ds, "BitsAllocated", default=8) or 8,
    )
    return header


def _raw_value_length(ds: Dataset, keyword: str) -> int | None:
    """The element's stored length without converting (or reading a deferred) value."""
    tag = Tag(keyword)
    if tag not in ds:
        return None
    return int(getattr(ds.get_item(tag, keep_deferred=True), "length", 0) or 0)


def _uid(ds: Dataset, keyword: str, *, required: bool = False) -> str:
    length = _raw_value_length(ds, keyword)
    value = "" if length is None or length > 65 else str(ds[keyword].value or "").strip("\0 ")
    if not value and not required:
        return ""
    if not _UID.fullmatch(value) or len(value) > 64:
        # Never used in a path anyway (F2); an invalid UID cannot be indexed or matched.
        raise IngestRefused(
            DATASET_DOES_NOT_MATCH_SOP_CLASS, f"{keyword} is missing or not a valid UID"
        )
    return value


def _text(ds: Dataset, keyword: str, max_length: int) -> str:
    length = _raw_value_length(ds, keyword)
    if length is None or length > 4 * max_length:
        return ""  # absent, or too long to be real: not worth reading
    return str(ds[keyword].value or "").strip("\0 ")[:max_length]


def _int(ds: Dataset, keyword: str, *, default: int | None) -> int | None:
    length = _raw_value_length(ds, keyword)
    if length is None or length == 0:
        return default
    if length > 16:
        raise IngestRefused(DATASET_DOES_NOT_MATCH_SOP_CLASS, f"{keyword} is not a number")
    value: Any = ds[keyword].value
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise IngestRefused(DATASET_DOES_NOT_MATCH_SOP_CLASS, f"{keyword} is not a number") from exc
    if number < 0:
        raise IngestRefused(DATASET_DOES_NOT_MATCH_SOP_CLASS, f"{keyword} is negative")
    return number


def _date(value: str) -> date | None:
    try:
        return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None  # an unreadable StudyDate is not a reason to refuse an image


def _printable(value: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in value[:64]) or "(none)"


def _check_nesting(ds: Dataset, *, depth: int, size: int) -> None:
    """Refuse sequences nested deeper than MAX_SEQUENCE_DEPTH, parsing one level at a time."""
    if depth > MAX_SEQUENCE_DEPTH:
        raise IngestRefused(
            CANNOT_UNDERSTAND, f"sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels"
        )
    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)
        vr = getattr(raw, "VR", None)
        if vr is None:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                continue
        if vr != "SQ":
            continue
        length = int(getattr(raw, "length", 0) or 0)
        if length != _UNDEFINED and length > size:
            raise IngestRefused(CANNOT_UNDERSTAND, "a sequence runs past the end of the file")
        for item in ds[tag].value or []:
            _check_nesting(item, depth=depth + 1, size=size)


def _check_pixel_data(fp: BinaryIO, offset: int, size: int, header: InstanceHeader) -> None:
    if header.rows == 0 or header.columns == 0:
        raise IngestRefused(DATASET_DOES_NOT_MATCH_SOP_CLASS, "Rows or Columns missing or zero")
    if header.samples_per_pixel > 4 or header.bits_allocated > 64:
        raise IngestRefused(DATASET_DOES_NOT_MATCH_SOP_CLASS, "implausible pixel layout")
    claimed = header.pixel_bytes()
    if claimed > settings.ARCHIVE_MAX_PIXEL_MB * 1024 * 1024:
        raise IngestRefused(
            DATASET_DOES_NOT_MATCH_SOP_CLASS,
            f"image dimensions {header.columns}x{header.rows}x{header.number_of_frames} "
            f"exceed the ingest budget of {settings.ARCHIVE_MAX_PIXEL_MB} MB",
        )
    fp.seek(offset)
    lead = fp.read(12)
    if len(lead) < 8 or struct.unpack("<HH", lead[:4]) != (0x7FE0, 0x0010):
        raise IngestRefused(DATASET_DOES_NOT_MATCH_SOP_CLASS, "no PixelData (or file truncated)")
    if header.transfer_syntax_uid == uid.ImplicitVRLittleEndian:
        (length,), start = struct.unpack("<I", lead[4:8]), offset + 8
    else:
        if len(lead) < 12:
            raise IngestRefused(CANNOT_UNDERSTAND, "file truncated in PixelData")
        (length,), start = struct.unpack("<I", lead[8:12]), offset + 12
    encapsulated = header.transfer_syntax_uid in ENCAPSULATED_TRANSFER_SYNTAXES
    if encapsulated != (length == _UNDEFINED):
        raise IngestRefused(
            CANNOT_UNDERSTAND, "PixelData framing does not match the transfer syntax"
        )
    if encapsulated:
        _check_fragments(fp, start, size)
        return
    if start + length > size:
        raise IngestRefused(CANNOT_UNDERSTAND, "file truncated in PixelData")
    if length < claimed:
        raise IngestRefused(
            DATASET_DOES_NOT_MATCH_SOP_CLASS, "PixelData is shorter than Rows x Columns x frames"
        )


def _check_fragments(fp: BinaryIO, position: int, size: int) -> None:
    """Walk the items of encapsulated PixelData by seeking; every one must lie in the file."""
    for _ in range(_MAX_FRAGMENTS):
        fp.seek(position)
        lead = fp.read(8)
        if len(lead) < 8:
            break
        group, element, length = struct.unpack("<HHI", lead)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER:
            return
        if tag != _ITEM or length == _UNDEFINED or position + 8 + length > size:
            break
        position += 8 + length
    raise IngestRefused(CANNOT_UNDERSTAND, "encapsulated PixelData is truncated or malformed")
