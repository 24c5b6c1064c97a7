"""Real DICOM peers on loopback: the listener in a thread of the test process, dcmtk tools
(with TCP_NODELAY=1: Debian's dcmtk stalls ~40 ms per message without it) and pynetdicom."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread, examples
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID, generate_uid
from pynetdicom.transport import ThreadedAssociationServer

from echoshare.dicomnet.config import DicomConfig
from echoshare.dicomnet.server import dicom_server_start, dicom_server_stop

ARCHIVE_AE = "ECHOSHARE"
PATIENT_AE = "ECHOSHARE_PT"


@dataclass
class Listener:
    server: ThreadedAssociationServer
    host: str
    port: int
    archive_ae: str = ARCHIVE_AE
    patient_ae: str = PATIENT_AE


# pynetdicom installs its own echoscu/findscu/storescu into the virtualenv, ahead of dcmtk's
# on PATH: the dcmtk tools are called by their full path.
DCMTK_BIN = Path(os.environ.get("DCMTK_BIN", "/usr/bin"))


def dcmtk(tool: str, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool the way the benchmarks do: TCP_NODELAY=1, output captured."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    return subprocess.run(
        [str(DCMTK_BIN / tool), *(str(arg) for arg in args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_config(**overrides: object) -> DicomConfig:
    config = DicomConfig(
        archive_ae=ARCHIVE_AE,
        patient_ae=PATIENT_AE,
        allowed_callers=(),
        bind_address="127.0.0.1",
        port=0,
        idle_timeout=10,
        acse_timeout=10,
        dimse_timeout=30,
        max_associations=16,
        max_pdu=131072,
    )
    return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]


test_config.__test__ = False  # type: ignore[attr-defined] # a helper, not a test


@pytest.fixture
def start_listener(transactional_db: None) -> Iterator[object]:
    """Start listeners with a given config; all are stopped when the test ends."""
    started: list[ThreadedAssociationServer] = []

    def start(**overrides: object) -> Listener:
        server = dicom_server_start(config=test_config(**overrides))
        started.append(server)
        host, port = server.server_address[:2]
        return Listener(server=server, host=str(host), port=int(port))

    yield start
    for server in started:
        dicom_server_stop(server, grace=5)


@pytest.fixture
def listener(start_listener) -> Listener:  # type: ignore[no-untyped-def]
    return start_listener()


# --- sample files -------------------------------------------------------------------------


def _with_new_uids(source: Path, target: Path) -> Path:
    """A copy with its own Study/Series/SOP Instance UIDs, so that files made from the same
    example do not collide in the archive."""
    ds = dcmread(source)
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(target, enforce_file_format=True)
    return target


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Single frames and a 30-frame cine in the transfer syntaxes machines send, made from
    pydicom's bundled ultrasound files with dcmtk's converters. Keys name what is special."""
    folder = tmp_path_factory.mktemp("samples")
    rgb = _with_new_uids(examples.get_path("rgb_color"), folder / "rgb_explicit.dcm")
    palette = _with_new_uids(examples.get_path("palette_color"), folder / "palette_explicit.dcm")
    cine_jpeg = _with_new_uids(examples.get_path("ybr_color"), folder / "cine_jpeg_baseline.dcm")
    j2k = _with_new_uids(examples.get_path("jpeg2k"), folder / "single_jpeg2000_lossless.dcm")
    files = {
        "single_explicit_le": rgb,
        "palette_explicit_le": palette,
        "cine_jpeg_baseline": cine_jpeg,
        "single_jpeg2000_lossless": j2k,
    }
    cine_raw = folder / "cine_explicit_le.dcm"
    conversions: list[tuple[str, list[str | Path]]] = [
        ("cine_explicit_le", ["dcmdjpeg", cine_jpeg, cine_raw]),
        ("single_implicit_le", ["dcmconv", "+ti", rgb]),
        ("single_jpeg_baseline", ["dcmcjpeg", "+eb", rgb]),
        ("single_jpeg_lossless_sv1", ["dcmcjpeg", "+e1", rgb]),
        ("single_jpeg_lossless_p14", ["dcmcjpeg", "+el", rgb]),
        ("single_rle", ["dcmcrle", rgb]),
        ("single_jpegls_lossless", ["dcmcjpls", "+el", rgb]),
        ("single_jpegls_near_lossless", ["dcmcjpls", "+en", rgb]),
        ("cine_rle", ["dcmcrle", cine_raw]),
        ("cine_jpegls_lossless", ["dcmcjpls", "+el", cine_raw]),
        ("cine_jpeg_lossless_sv1", ["dcmcjpeg", "+e1", cine_raw]),
    ]
    for name, command in conversions:
        target = folder / f"{name}.dcm"
        args = command if name == "cine_explicit_le" else [*command, target]
        result = dcmtk(*args)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        made = cine_raw if name == "cine_explicit_le" else target
        # Each converted file keeps the UIDs of its source; give it its own.
        files[name] = _with_new_uids(made, folder / f"{name}.uid.dcm")
    return files


ENHANCED_US_VOLUME_STORAGE = UID("1.2.840.10008.5.1.4.1.1.6.2")
_NOT_IN_ENHANCED_US = (
    # The US Region Calibration and Cine modules belong to the (multi-frame) US Image IODs;
    # the enhanced IOD keeps calibration and timing in functional groups.
    "SequenceOfUltrasoundRegions",
    "FrameTime",
    "FrameIncrementPointer",
    "HeartRate",
    "TransducerData",
    "PatientOrientation",
)


def _enhanced_us_volume(source: Path, target: Path) -> Path:
    """pydicom's 30-frame JPEG Baseline ultrasound cine turned into an Enhanced US Volume: the
    frames become 30 planes 0.5 mm apart. It carries the main attributes of the IOD's
    modules (Frame of Reference, Ultrasound Frame of Reference, Synchronization, Enhanced
    General Equipment, Multi-frame Functional Groups and Dimensions, Enhanced US Image);
    it was not checked with an IOD validator."""
    ds = dcmread(source)
    for keyword in _NOT_IN_ENHANCED_US:
        delattr(ds, keyword)
    ds.remove_private_tags()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = ENHANCED_US_VOLUME_STORAGE
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = generate_uid(), ""
    ds.VolumeFrameOfReferenceUID = generate_uid()
    ds.UltrasoundAcquisitionGeometry = "APEX"
    ds.ApexPosition = [0.0, 0.0, 0.0]
    ds.VolumeToTransducerMappingMatrix = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]
    ds.SynchronizationFrameOfReferenceUID = generate_uid()
    ds.SynchronizationTrigger, ds.AcquisitionTimeSynchronized = "NO TRIGGER", "N"
    ds.DeviceSerialNumber = "H21-TEST"
    ds.AcquisitionDateTime, ds.AcquisitionDuration = f"{ds.StudyDate}{ds.StudyTime}", 3.0
    ds.AcquisitionContextSequence = []
    ds.DimensionOrganizationType = "3D"
    organization = Dataset()
    organization.DimensionOrganizationUID = generate_uid()
    ds.DimensionOrganizationSequence = [organization]
    index = Dataset()
    index.DimensionOrganizationUID = organization.DimensionOrganizationUID
    index.DimensionIndexPointer = Tag("ImagePositionVolume")
    index.FunctionalGroupPointer = Tag("PlanePositionVolumeSequence")
    ds.DimensionIndexSequence = [index]
    shared = Dataset()
    shared.PixelMeasuresSequence = [Dataset()]
    shared.PixelMeasuresSequence[0].PixelSpacing = [0.2, 0.2]
    shared.PixelMeasuresSequence[0].SliceThickness = 0.5
    shared.PlaneOrientationVolumeSequence = [Dataset()]
    shared.PlaneOrientationVolumeSequence[0].ImageOrientationVolume = [1.0, 0, 0, 0, 1.0, 0]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = [_plane(number) for number in range(ds.NumberOfFrames)]
    return _with_new_uids_of(ds, target)


def _plane(number: int) -> Dataset:
    content, position, frame = Dataset(), Dataset(), Dataset()
    content.DimensionIndexValues = [number + 1]
    position.ImagePositionVolume = [0.0, 0.0, 0.5 * number]
    frame.FrameContentSequence, frame.PlanePositionVolumeSequence = [content], [position]
    return frame


def _with_new_uids_of(ds: Dataset, target: Path) -> Path:
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(target, enforce_file_format=True)
    return target


@pytest.fixture(scope="session")
def enhanced_us_volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Enhanced US Volume instance, JPEG Baseline (the pixel data of pydicom's cine)."""
    folder = tmp_path_factory.mktemp("enhanced")
    return _enhanced_us_volume(examples.get_path("ybr_color"), folder / "enhanced_us_volume.dcm")
