"""DICOM in, display-space frames out: header checks, the pixel budget and a frame iterator.

Everything is checked from the header before a single pixel is decoded (F1): dimensions,
the pixel budget, supported encodings, and for uncompressed data that the file really holds
the bytes the header promises. Frames are then streamed one at a time as RGB uint8 arrays
(rows x columns x 3) in display space: palette applied, MONOCHROME1 inverted, YBR converted,
16-bit scaled, so a mask that writes zeros writes black on every screen (A2).

Overlays, the icon image sequence and every other header value are never rendered: only
(7FE0,0010) Pixel Data is read.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, convert_color_space, get_decoder, iter_pixels
from pydicom.pixels.utils import expand_ybr422, get_expected_length
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit

from echoshare.imaging.errors import ImageRefused

# H.264 and every phone stop far below this; a bigger "frame" is an absurd header.
MAX_SIDE = 8192
# When a cine carries no usable rate: a common ultrasound display rate.
DEFAULT_FRAME_RATE = Fraction(30)
_PLAUSIBLE_RATE = (Fraction(1), Fraction(240))

_PHOTOMETRIC = {
    1: {"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"},
    3: {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"},
}
_PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")  # little, big endian
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class ImageHeader:
    """What rendering needs to know about a DICOM file, read without its pixel data."""

    path: Path
    dataset: Dataset  # the header without Pixel Data: regions, LUTs, windows
    transfer_syntax: UID
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    pixel_value_offset: int  # file offset of the first byte of the Pixel Data value
    pixel_length: int  # 0xFFFFFFFF when encapsulated
    encapsulated: bool
    frame_rate: Fraction

    @property
    def manufacturer(self) -> str:
        return str(self.dataset.get("Manufacturer", "") or "")

    @property
    def model_name(self) -> str:
        return str(self.dataset.get("ManufacturerModelName", "") or "")

    @property
    def is_multiframe(self) -> bool:
        return self.frames > 1


def read_header(path: str | os.PathLike[str], *, pixel_budget: int) -> ImageHeader:
    """Read and check the header of a DICOM file; raise ImageRefused with a reason if unfit."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            ds = dcmread(f, stop_before_pixels=True)
            element_start = f.tell()
            element_head = f.read(12)
    except InvalidDicomError as exc:
        raise ImageRefused("not a DICOM file") from exc
    except OSError as exc:
        raise ImageRefused(f"the file cannot be read: {exc.strerror}") from exc
    except Exception as exc:  # pydicom raises many types on garbage; none is a bug of ours
        raise ImageRefused("the DICOM header cannot be read (damaged file)") from exc
    header = _checked_header(path, ds, element_start, element_head, pixel_budget)
    if not header.encapsulated:
        _check_native_length(header)
    return header


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ImageRefused(f"the header has no usable {keyword}") from None


def _checked_header(
    path: Path, ds: Dataset, element_start: int, element_head: bytes, pixel_budget: int
) -> ImageHeader:
    syntax = _checked_syntax(ds)
    if element_head[:4] not in _PIXEL_DATA_TAGS or len(element_head) < 12:
        raise ImageRefused("the file holds no image (no Pixel Data)")
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames", 1)
    _check_size(columns, rows, frames, pixel_budget)
    samples = _int(ds, "SamplesPerPixel", 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in _PHOTOMETRIC.get(samples, set()):
        raise ImageRefused(f"unsupported photometric interpretation {photometric!r}")
    bits_allocated = _int(ds, "BitsAllocated")
    bits_stored = _int(ds, "BitsStored", bits_allocated)
    if bits_allocated not in (8, 16) or not 1 <= bits_stored <= bits_allocated:
        raise ImageRefused(f"unsupported bit depth {bits_stored}/{bits_allocated}")
    head_length, length = _pixel_element_layout(element_head, syntax)
    return ImageHeader(
        path=path,
        dataset=ds,
        transfer_syntax=syntax,
        rows=rows,
        columns=columns,
        frames=frames,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=_int(ds, "PixelRepresentation", 0) == 1,
        photometric=photometric,
        pixel_value_offset=element_start + head_length,
        pixel_length=length,
        encapsulated=syntax.is_encapsulated and length == _UNDEFINED_LENGTH,
        frame_rate=frame_rate(ds) if frames > 1 else DEFAULT_FRAME_RATE,
    )


def _checked_syntax(ds: Dataset) -> UID:
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if not syntax:
        raise ImageRefused("the file has no transfer syntax")
    syntax = UID(syntax)
    if syntax == DeflatedExplicitVRLittleEndian:
        raise ImageRefused("deflated DICOM files are not supported")
    try:
        if not get_decoder(syntax).is_available:
            raise ImageRefused(f"no decoder installed for {syntax.name}")
    except NotImplementedError:
        raise ImageRefused(f"unsupported transfer syntax {syntax.name or syntax}") from None
    return syntax


def _check_size(columns: int, rows: int, frames: int, pixel_budget: int) -> None:
    """Refuse absurd or over-budget sizes from the numbers alone: nothing is allocated."""
    if rows < 1 or columns < 1 or frames < 1:
        raise ImageRefused(f"absurd image size {columns}x{rows}, {frames} frame(s)")
    if rows > MAX_SIDE or columns > MAX_SIDE:
        raise ImageRefused(f"absurd image size {columns}x{rows} (limit {MAX_SIDE} a side)")
    if rows * columns * frames > pixel_budget:
        raise ImageRefused(
            f"{columns}x{rows} x {frames} frame(s) is {rows * columns * frames:,} pixels,"
            f" more than the budget of {pixel_budget:,}"
        )


def _pixel_element_layout(element_head: bytes, syntax: UID) -> tuple[int, int]:
    """Header length and value length of the Pixel Data element.

    Read from the bytes, not the transfer syntax: some writers use implicit VR under an
    explicit syntax, and pydicom reads those files too.
    """
    endian = "<" if syntax.is_little_endian else ">"
    if element_head[4:6] in (b"OB", b"OW", b"UN") and element_head[6:8] == b"\0\0":
        return 12, struct.unpack(endian + "L", element_head[8:12])[0]
    return 8, struct.unpack(endian + "L", element_head[4:8])[0]


def _check_native_length(header: ImageHeader) -> None:
    """Uncompressed Pixel Data must hold every byte the header promises, and the file too."""
    if header.transfer_syntax.is_encapsulated:
        raise ImageRefused("broken pixel data: compressed syntax without encapsulated frames")
    expected = get_expected_length(header.dataset)
    available = header.path.stat().st_size - header.pixel_value_offset
    if header.pixel_length < expected or available < expected:
        raise ImageRefused(
            f"broken pixel data: {min(header.pixel_length, available):,} bytes,"
            f" expected {expected:,}"
        )


def frame_rate(ds: Dataset) -> Fraction:
    """Playback rate of a cine: CineRate, else FrameTime, else FrameTimeVector, else
    RecommendedDisplayFrameRate; implausible values are skipped; else DEFAULT_FRAME_RATE."""
    candidates = [
        _positive(ds.get("CineRate")),
        _per_second(_positive(ds.get("FrameTime"))),
        _per_second(_mean_increment(ds.get("FrameTimeVector"))),
        _positive(ds.get("RecommendedDisplayFrameRate")),
    ]
    for rate in candidates:
        if rate is not None and _PLAUSIBLE_RATE[0] <= rate <= _PLAUSIBLE_RATE[1]:
            return rate.limit_denominator(1001)
    return DEFAULT_FRAME_RATE


def _per_second(milliseconds: Fraction | None) -> Fraction | None:
    return None if milliseconds is None else 1000 / milliseconds


def _mean_increment(vector: object) -> Fraction | None:
    """Mean time between frames in ms; the vector's first value (0 by definition) is skipped."""
    if not isinstance(vector, list | tuple) and not hasattr(vector, "__len__"):
        return None
    increments = [_positive(v) for v in list(vector)[1:]]  # type: ignore[call-overload]
    valid = [v for v in increments if v is not None]
    if not valid or len(valid) != len(increments):
        return None
    return sum(valid, Fraction(0)) / len(valid)


def _positive(value: object) -> Fraction | None:
    try:
        number = Fraction(str(value).strip())
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number > 0 else None


# --- frames ---------------------------------------------------------------------------------


def iter_display_frames(
    header: ImageHeader, *, indices: Iterable[int] | None = None
) -> Iterator[np.ndarray]:
    """Yield the frames (all, or the 0-based `indices`) as display-space RGB uint8 arrays.

    One frame is decoded at a time; memory does not grow with the number of frames.
    Raises ImageRefused when the pixel data turns out to be broken.
    """
    wanted = None if indices is None else sorted(set(indices))
    if wanted is not None and any(not 0 <= i < header.frames for i in wanted):
        raise ValueError(f"frame index out of range 0..{header.frames - 1}")
    to_display = display_converter(header)
    raw: Iterator[np.ndarray]
    if not header.encapsulated:
        raw = _native_frames(header, wanted)
    elif _use_ffmpeg(header):
        raw = _ffmpeg_mjpeg_frames(header, wanted)
    else:
        for _ in _encapsulated_frames(header, wanted):
            pass  # checks every frame's own size before a decoder allocates it
        raw = iter_pixels(header.path, indices=wanted)
    count = 0
    for array in _guarded(raw):
        count += 1
        yield to_display(array)
    expected = header.frames if wanted is None else len(wanted)
    if count != expected:
        raise ImageRefused(f"broken pixel data: {count} of {expected} frame(s) decoded")


def read_display_frame(header: ImageHeader, index: int) -> np.ndarray:
    """One frame (0-based) in display space."""
    return next(iter_display_frames(header, indices=[index]))


def _guarded(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Turn a decoder's failure on corrupt data into ImageRefused."""
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except ImageRefused:
            raise
        except Exception as exc:  # decoders raise many types on corrupt data
            raise ImageRefused(f"broken pixel data: {str(exc)[:200]}") from exc
        yield frame


def _native_frames(header: ImageHeader, wanted: list[int] | None) -> Iterator[np.ndarray]:
    """Uncompressed frames read one at a time straight from the file (the length was checked
    in read_header), YBR converted to RGB."""
    samples, rows, columns = header.samples_per_pixel, header.rows, header.columns
    pixel_bytes = header.bits_allocated // 8
    frame_bytes = rows * columns * samples * pixel_bytes
    if header.photometric == "YBR_FULL_422":
        frame_bytes = frame_bytes // 3 * 2
    kind = "i" if header.signed else "u"
    order = "<" if header.transfer_syntax.is_little_endian else ">"
    dtype = np.dtype(f"{order}{kind}{pixel_bytes}")
    planar = int(header.dataset.get("PlanarConfiguration", 0) or 0)
    with header.path.open("rb") as f:
        for index in range(header.frames) if wanted is None else wanted:
            f.seek(header.pixel_value_offset + index * frame_bytes)
            data = f.read(frame_bytes)
            if header.photometric == "YBR_FULL_422":
                data = expand_ybr422(data, header.bits_allocated)
            array = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))
            if samples == 1:
                yield _only_stored_bits(array.reshape(rows, columns), header)
                continue
            if planar == 1 and header.photometric != "YBR_FULL_422":
                array = array.reshape(3, rows, columns).transpose(1, 2, 0)
            else:
                array = array.reshape(rows, columns, 3)
            if header.photometric.startswith("YBR_FULL"):
                array = convert_color_space(array, "YBR_FULL", "RGB")
            yield array


def _only_stored_bits(array: np.ndarray, header: ImageHeader) -> np.ndarray:
    """Drop bits above BitsStored (overlays lived there once); sign-extend signed values."""
    unused = header.bits_allocated - header.bits_stored
    if unused == 0:
        return array
    if header.signed:
        return (array << unused) >> unused  # arithmetic shift on a signed dtype
    return array & ((1 << header.bits_stored) - 1)


def _use_ffmpeg(header: ImageHeader) -> bool:
    """JPEG-baseline colour cines decode twice as fast in FFmpeg's mjpeg decoder (BENCHMARKS).

    Only for YBR photometrics: there FFmpeg and DICOM agree the JPEG holds YCbCr. An "RGB"
    JPEG may or may not have been colour-transformed, which pydicom knows how to tell.
    """
    return (
        header.transfer_syntax == JPEGBaseline8Bit
        and header.encapsulated
        and header.photometric in ("YBR_FULL_422", "YBR_FULL")
        and header.bits_allocated == 8
    )


def _encapsulated_frames(header: ImageHeader, wanted: list[int] | None) -> Iterator[bytes]:
    """The compressed frames, each checked to declare the header's size (no JPEG bombs)."""
    ds = header.dataset
    offsets = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    wanted_set = None if wanted is None else set(wanted)
    last = header.frames - 1 if wanted is None else max(wanted, default=-1)
    with header.path.open("rb") as f:
        f.seek(header.pixel_value_offset)
        frames = generate_frames(f, number_of_frames=header.frames, extended_offsets=offsets)
        for index, data in enumerate(_guarded_bytes(frames)):
            if index > last:
                return
            if wanted_set is not None and index not in wanted_set:
                continue
            declared = declared_size(data)
            if declared is not None and declared != (header.columns, header.rows):
                raise ImageRefused(
                    f"broken pixel data: frame {index + 1} is {declared[0]}x{declared[1]},"
                    f" the header says {header.columns}x{header.rows}"
                )
            yield data


def _guarded_bytes(frames: Iterator[bytes]) -> Iterator[bytes]:
    while True:
        try:
            data = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # damaged item tags or lengths
            raise ImageRefused(f"broken pixel data: {str(exc)[:200]}") from exc
        yield data


def _ffmpeg_mjpeg_frames(header: ImageHeader, wanted: list[int] | None) -> Iterator[np.ndarray]:
    codec = av.CodecContext.create("mjpeg", "r")
    try:
        for data in _encapsulated_frames(header, wanted):
            for frame in codec.decode(av.Packet(data)):
                yield frame.to_ndarray(format="rgb24")
        for frame in codec.decode(None):
            yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise ImageRefused(f"broken pixel data: {exc}") from exc


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height a JPEG / JPEG-LS / JPEG 2000 frame declares, None for others (RLE)."""
    if data[:4] == b"\xff\x4f\xff\x51" and len(data) >= 24:  # J2K: SOC then SIZ
        xsiz, ysiz, xosiz, yosiz = struct.unpack(">4L", data[8:24])
        return xsiz - xosiz, ysiz - yosiz
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        is_sof = 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)
        if (is_sof or marker == 0xF7) and pos + 9 <= len(data):  # F7: JPEG-LS SOF55
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


# --- display conversion ---------------------------------------------------------------------


def display_converter(header: ImageHeader) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a decoded frame to display-space RGB uint8."""
    if header.photometric == "PALETTE COLOR":
        return _table_converter(header, _palette_table(header))
    if header.photometric.startswith("MONOCHROME"):
        return _table_converter(header, _monochrome_table(header))
    # RGB, and YBR which the decoders have already converted to RGB.
    shift = header.bits_stored - 8

    def rgb(array: np.ndarray) -> np.ndarray:
        if array.dtype == np.uint8:
            return np.ascontiguousarray(array)
        scaled = np.right_shift(array, shift) if shift > 0 else array
        return np.clip(scaled, 0, 255).astype(np.uint8)

    return rgb


def _table_converter(header: ImageHeader, table: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Index a (2**bits_allocated, 3) uint8 table with each stored value."""
    half = 1 << (header.bits_allocated - 1)
    unsigned = np.uint8 if header.bits_allocated == 8 else np.uint16

    def convert(array: np.ndarray) -> np.ndarray:
        if header.signed:  # two's complement v -> v + half, as an unsigned index
            array = np.bitwise_xor(array.astype(unsigned, copy=False), half)
        return table[array]

    return convert


def _stored_values(header: ImageHeader) -> np.ndarray:
    """Every value a stored pixel can hold, in table order (see _table_converter)."""
    size = 1 << header.bits_allocated
    if header.signed:
        return np.arange(-(size // 2), size // 2, dtype=np.int64)
    return np.arange(size, dtype=np.int64)


def _palette_table(header: ImageHeader) -> np.ndarray:
    values = _stored_values(header).clip(0, None)
    try:
        rgb = apply_color_lut(values.astype(np.uint16), header.dataset)
    except Exception as exc:  # missing or damaged LUT elements
        raise ImageRefused(f"the palette colour table cannot be read: {exc}") from exc
    if rgb.dtype != np.uint8:
        descriptor = header.dataset.get("RedPaletteColorLookupTableDescriptor", [0, 0, 8])
        if int(descriptor[2]) > 8 and int(rgb.max()) > 255:
            rgb = rgb >> 8
        rgb = rgb.clip(0, 255)
    return np.ascontiguousarray(rgb[..., :3].astype(np.uint8))


def _monochrome_table(header: ImageHeader) -> np.ndarray:
    ds = header.dataset
    values = _stored_values(header).astype(np.float64)
    values = values * float(ds.get("RescaleSlope", 1) or 1) + float(
        ds.get("RescaleIntercept", 0) or 0
    )
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width >= 1:
        # DICOM PS3.3 C.11.2.1.2.1, linear window.
        gray = ((values - (center - 0.5)) / (width - 1) + 0.5).clip(0, 1) * 255
    else:
        low = -(1 << (header.bits_stored - 1)) if header.signed else 0
        high = low + (1 << header.bits_stored) - 1
        gray = (values - low).clip(0, high - low) * 255 / max(high - low, 1)
    gray8 = np.rint(gray).astype(np.uint8)
    if header.photometric == "MONOCHROME1":
        gray8 = 255 - gray8
    return np.repeat(gray8[:, None], 3, axis=1)


def _first(value: object) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, list | tuple) or hasattr(value, "__getitem__"):
            value = value[0] if not isinstance(value, str | bytes) else value  # type: ignore[index]
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return None
