"""Fixtures for imaging: synthetic ultrasound DICOM files with text burned in outside their
regions and a canary in every identifying field, pydicom's bundled examples, dcmtk re-encodes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom.data
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage

from echoshare.imaging.masking import Rect

EXAMPLES = Path(pydicom.data.__file__).parent / "test_files"
PALETTE = EXAMPLES / "examples_palette.dcm"
RGB = EXAMPLES / "examples_rgb_color.dcm"
YBR = EXAMPLES / "examples_ybr_color.dcm"
JPEG2K = EXAMPLES / "examples_jpeg2k.dcm"

ROWS, COLUMNS = 120, 160
# Two clinical areas; everything else is "screen" with burned-in text.
REGIONS = (Rect(20, 24, 99, 83), Rect(110, 30, 149, 89))
BACKGROUND = 40  # display grey of the screen outside the regions

# A unique value in every field that could identify a patient (A1).
CANARIES = {
    "PatientName": "CANARYFAMILY^CANARYGIVEN",
    "PatientID": "CANARYPID4711",
    "PatientBirthDate": "19010203",
    "OtherPatientIDs": "CANARYOTHERID",
    "PatientAddress": "CANARYSTREET 12",
    "PatientTelephoneNumbers": "0612CANARY34",
    "InstitutionName": "CANARY CLINIC",
    "InstitutionAddress": "CANARYLANE 1",
    "ReferringPhysicianName": "CANARYREFERRER",
    "PerformingPhysicianName": "CANARYPERFORMER",
    "OperatorsName": "CANARYOPERATOR",
    "StationName": "CANARYSTATION",
    "AccessionNumber": "CANARYACC99",
    "StudyID": "CANARYSTUDY",
    "StudyDescription": "CANARY STUDY DESCRIPTION",
    "SeriesDescription": "CANARY SERIES DESCRIPTION",
    "StudyDate": "19020304",
    "SeriesDate": "19030405",
    "ContentDate": "19040506",
    "StudyTime": "111213.141516",
    "DeviceSerialNumber": "CANARYSERIAL",
    "StudyInstanceUID": "1.2.826.0.1.3680043.10.9999.1111",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.10.9999.2222",
    "SOPInstanceUID": "1.2.826.0.1.3680043.10.9999.3333",
}
PRIVATE_CANARY = "CANARYPRIVATEVALUE"
OVERLAY_CANARY = "CANARYOVERLAY"
ICON_CANARY = b"CANARYICONPIXELS"


def canary_strings() -> list[str]:
    values = [*CANARIES.values(), PRIVATE_CANARY, OVERLAY_CANARY, ICON_CANARY.decode()]
    parts = [p for v in values for p in v.split("^")]
    return sorted(set(values + parts))


def assert_no_canary(data: bytes) -> None:
    """None of the canaries in any of the usual text encodings (A1)."""
    for text in canary_strings():
        for variant in {text, text.lower()}:
            for encoding in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le"):
                assert variant.encode(encoding) not in data, (text, encoding)


# --- the picture ------------------------------------------------------------------------------


def display_picture(frame: int = 0) -> np.ndarray:
    """The screen as the machine shows it: grey background, white text outside the regions,
    and inside the regions a colour gradient that changes from frame to frame."""
    image = Image.new("RGB", (COLUMNS, ROWS), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(image)
    draw.text((2, 2), "CANARY PATIENT 19010203", fill=(255, 255, 255))
    draw.text((2, 100), "CLINIC", fill=(255, 255, 255))
    draw.text((100, 106), "GA 20w", fill=(255, 255, 0))
    pixels = np.asarray(image).copy()
    ys, xs = np.mgrid[0:ROWS, 0:COLUMNS]
    for r in REGIONS:
        area = (slice(r.y0, r.y1 + 1), slice(r.x0, r.x1 + 1))
        pixels[(*area, 0)] = (60 + xs[area] + 5 * frame) % 200 + 40
        pixels[(*area, 1)] = (80 + ys[area]) % 200 + 40
        pixels[(*area, 2)] = 150
    return pixels


def outside_regions() -> np.ndarray:
    inside = np.zeros((ROWS, COLUMNS), dtype=bool)
    for r in REGIONS:
        inside[r.y0 : r.y1 + 1, r.x0 : r.x1 + 1] = True
    return ~inside


def far_outside_regions(margin: int) -> np.ndarray:
    """Outside the regions by more than `margin` pixels (lossy coding blurs the edges)."""
    inside = np.zeros((ROWS, COLUMNS), dtype=bool)
    for r in REGIONS:
        inside[
            max(r.y0 - margin, 0) : r.y1 + 1 + margin, max(r.x0 - margin, 0) : r.x1 + 1 + margin
        ] = True
    return ~inside


# --- encoding the picture as each photometric interpretation ----------------------------------


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb.max(axis=-1).astype(np.uint8)  # text stays 255, background stays BACKGROUND


def _stored(rgb: np.ndarray, photometric: str, bits: int) -> tuple[np.ndarray, dict]:
    """Stored pixel values and the Image Pixel attributes for a display-space picture."""
    if photometric == "MONOCHROME2":
        grey = _grey(rgb).astype(np.uint16)
        if bits == 16:
            return (grey * 16).astype(np.uint16), {"BitsStored": 12, "HighBit": 11}
        return grey.astype(np.uint8), {}
    if photometric == "MONOCHROME1":
        return (255 - _grey(rgb)).astype(np.uint8), {}
    if photometric == "PALETTE COLOR":
        return _grey(rgb), {}
    if photometric == "RGB":
        if bits == 16:
            return rgb.astype(np.uint16) * 256, {"BitsStored": 16, "HighBit": 15}
        return rgb, {}
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        return convert_color_space(rgb, "RGB", "YBR_FULL"), {}
    raise ValueError(photometric)


def _pixel_bytes(stored: np.ndarray, photometric: str, planar: int) -> bytes:
    """One frame's bytes in DICOM's native layout."""
    if photometric == "YBR_FULL_422":
        y, cb, cr = (stored[..., i].astype(np.int32) for i in range(3))
        out = np.empty((ROWS, COLUMNS // 2, 4), dtype=np.uint8)
        out[..., 0], out[..., 1] = y[:, 0::2], y[:, 1::2]
        out[..., 2] = (cb[:, 0::2] + cb[:, 1::2] + 1) // 2
        out[..., 3] = (cr[:, 0::2] + cr[:, 1::2] + 1) // 2
        return out.tobytes()
    if stored.ndim == 3 and planar == 1:
        return np.ascontiguousarray(stored.transpose(2, 0, 1)).tobytes()
    return np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()


def _add_palette(ds: Dataset) -> None:
    """A 16-bit grey palette with 8-bit-looking indices: value i shows grey i."""
    entries = (np.arange(256, dtype=np.uint16) * 257).astype("<u2").tobytes()
    for colour in ("Red", "Green", "Blue"):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", entries)


def _add_canaries(ds: Dataset) -> None:
    for keyword, value in CANARIES.items():
        setattr(ds, keyword, value)
    block = ds.private_block(0x0009, "CANARYCORP", create=True)
    block.add_new(0x01, "LO", PRIVATE_CANARY)
    # An overlay covering the whole frame: rendering it would paint the blanked screen white.
    ds.add_new(0x60000010, "US", ROWS)
    ds.add_new(0x60000011, "US", COLUMNS)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", OVERLAY_CANARY)
    ds.add_new(0x60003000, "OW", b"\xff" * (ROWS * COLUMNS // 8))
    icon = Dataset()
    icon.Rows, icon.Columns, icon.SamplesPerPixel = 4, 4, 1
    icon.PhotometricInterpretation, icon.BitsAllocated, icon.BitsStored = "MONOCHROME2", 8, 8
    icon.HighBit, icon.PixelRepresentation = 7, 0
    icon.PixelData = ICON_CANARY
    ds.IconImageSequence = Sequence([icon])


def _region_items(regions: tuple[Rect, ...]) -> Sequence:
    items = []
    for r in regions:
        item = Dataset()
        item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, 1, 0
        item.RegionLocationMinX0, item.RegionLocationMinY0 = r.x0, r.y0
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = r.x1, r.y1
        items.append(item)
    return Sequence(items)


def make_ultrasound(
    path: Path,
    *,
    photometric: str = "RGB",
    frames: int = 1,
    bits: int = 8,
    planar: int = 0,
    regions: tuple[Rect, ...] | None = REGIONS,
    canaries: bool = True,
    extra: dict | None = None,
) -> Path:
    """Write an uncompressed ultrasound DICOM file of display_picture() frames."""
    samples = 1 if photometric in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR") else 3
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = CANARIES["SOPInstanceUID"]
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality = "US"
    ds.Manufacturer, ds.ManufacturerModelName = "Echoshare Test", "Synthetic 1"
    ds.BurnedInAnnotation = "NO"  # a lie, as machines tell it (A4)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = ROWS, COLUMNS, samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if samples == 3:
        ds.PlanarConfiguration = planar
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.CineRate = 25
        ds.FrameTime = 40
    if photometric == "PALETTE COLOR":
        _add_palette(ds)
    if regions is not None:
        ds.SequenceOfUltrasoundRegions = _region_items(regions)
    if canaries:
        _add_canaries(ds)
    data = b""
    for index in range(frames):
        stored, attributes = _stored(display_picture(index), photometric, bits)
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        data += _pixel_bytes(stored, photometric, planar)
    ds.PixelData = data + b"\0" * (len(data) % 2)
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def dcmtk(tool: str, *args: str | Path) -> None:
    """Run a dcmtk tool; fail the test with its output if it fails."""
    done = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{tool} failed: {done.stdout}{done.stderr}"


# --- what every output must satisfy ------------------------------------------------------------

GENERIC_NAMES = {"still.jpg", "thumb.jpg", "clip.mp4"}


def assert_clean_jpeg(path: Path) -> None:
    """A5: only SOI, APP0, DQT, SOF, DHT, DRI, SOS, EOI; progressive; A1; A7."""
    from echoshare.imaging.stills import ALLOWED_SEGMENTS, jpeg_segments

    data = path.read_bytes()
    segments = jpeg_segments(data)
    assert set(segments) <= ALLOWED_SEGMENTS, segments
    assert segments[0] == "SOI" and segments[-1] == "EOI"
    assert b"\xff\xc2" in data  # SOF2: progressive
    assert data[6:11] == b"JFIF\0"
    assert_no_canary(data)
    assert path.name in GENERIC_NAMES


def assert_clean_mp4(path: Path) -> None:
    """A6: one H.264 video stream, no audio, no tags beyond the brand fields, faststart."""
    import av

    from echoshare.imaging.clips import mp4_top_level_boxes

    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert not container.streams.audio
        assert set(container.metadata) <= {"major_brand", "minor_version", "compatible_brands"}
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.width % 2 == 0 and stream.codec_context.height % 2 == 0
        # The muxer's own per-track defaults; nothing from the input.
        assert stream.metadata.get("handler_name", "VideoHandler") == "VideoHandler"
        assert set(stream.metadata) <= {"language", "handler_name", "vendor_id"}
    boxes = mp4_top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")
    data = path.read_bytes()
    mvhd = data.index(b"mvhd")
    assert data[mvhd + 8 : mvhd + 16] == b"\0" * 8  # creation and modification time: none
    ilst = data.find(b"ilst")
    assert ilst < 0 or data[ilst - 4 : ilst] == b"\0\0\0\x08"  # an empty tag list
    assert_no_canary(data)
    assert path.name in GENERIC_NAMES
