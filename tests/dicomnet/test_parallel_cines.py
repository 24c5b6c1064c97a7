"""H1: realistic cine loops over parallel associations to `echoshare dicom` (a real process):
every one succeeds, the listener's memory stays bounded while they stream in, and the
archive holds each one intact and verifies clean afterwards."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid
from pynetdicom import AE, _config

from echoshare.archive.models import InstanceFile
from echoshare.dicomnet.spool import SPOOL_PREFIX
from tests.dicomnet.conftest import ARCHIVE_AE
from tests.portal import processes

pytestmark = [pytest.mark.dicom, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CINES = 4
FRAMES, ROWS, COLUMNS = 40, 600, 800  # 57.6 MB of RGB pixels: a few seconds of a real loop
MEMORY_LIMIT = 300 * 1024 * 1024  # SECURITY H1, docs/performance.md (Ingest)


@dataclass(frozen=True)
class Cine:
    sop_instance_uid: str
    path: Path
    data_set_sha256: str  # of the bytes after the File Meta: what goes over the wire
    data_set_length: int


def _sha256(path: Path, start: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        file.seek(start)
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _data_set_offset(path: Path) -> int:
    """Where the data set starts in a Part 10 file: after the preamble, "DICM" and the File
    Meta group, whose length its first element (0002,0000) UL gives."""
    with path.open("rb") as file:
        head = file.read(144)
    assert head[128:136] == b"DICM\x02\x00\x00\x00", path
    return 144 + int(struct.unpack("<I", head[140:144])[0])


def _make_cine(folder: Path, seed: int) -> Cine:
    """An uncompressed 800x600 RGB cine whose pixels differ from every other seed's."""
    base = np.random.default_rng(seed).integers(0, 255, (ROWS, COLUMNS, 3), dtype=np.uint8)
    ds = Dataset()
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = f"H1-{seed}"
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLUMNS, FRAMES
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation, ds.PlanarConfiguration = 0, 0
    ds.PixelData = np.stack([np.roll(base, n, axis=0) for n in range(FRAMES)]).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / f"cine{seed}.dcm"
    ds.save_as(path, enforce_file_format=True)
    offset = _data_set_offset(path)
    return Cine(
        sop_instance_uid=str(ds.SOPInstanceUID),
        path=path,
        data_set_sha256=_sha256(path, offset),
        data_set_length=path.stat().st_size - offset,
    )


class TreeMemory(threading.Thread):
    """Peak resident memory of a process and all its descendants, sampled every 20 ms (as
    bench/ingest/run.py measures it)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self.done = threading.Event()

    def tree_rss(self) -> int:
        pids, total = [self.pid], 0
        while pids:
            pid = pids.pop()
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:  # the process ended between two reads
                continue
            pids += [int(child) for child in children]
        return total

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.tree_rss())
            self.samples += 1
            time.sleep(0.02)


@pytest.fixture
def dicom_process(
    transactional_db: None, tmp_path: Path
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """`echoshare dicom` on a free port against the test database and this test's archive;
    yields its pid, port and environment, and stops it with SIGTERM afterwards."""
    port = processes.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": processes.database_url(),
        "ECHOSHARE_DATA_DIR": str(settings.DATA_DIR),
        "ECHOSHARE_ARCHIVE_DIR": str(settings.ARCHIVE_DIR),
        "ECHOSHARE_LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "dicom.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "echoshare.cli", "dicom", "--port", str(port),
             "--bind", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "DICOM listening on" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "the listener did not start"
            time.sleep(0.05)
        yield process.pid, port, env
        process.terminate()
        assert process.wait(timeout=30) == 0, log_path.read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _send(port: int, cine: Cine, start: threading.Barrier) -> int:
    """One association, one cine; the C-STORE status (-1 when none came)."""
    ae = AE(ae_title="US_ROOM_1")
    ae.acse_timeout = ae.network_timeout = 30
    ae.dimse_timeout = 60
    ae.add_requested_context(UltrasoundMultiFrameImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title=ARCHIVE_AE)
    assert assoc.is_established, cine.path
    try:
        start.wait(timeout=30)  # all four associations stream at the same time
        status = assoc.send_c_store(cine.path)
        return int(status.Status) if status else -1
    finally:
        assoc.release()


def test_parallel_cines_are_all_stored_intact_with_bounded_memory(dicom_process, tmp_path):
    pid, port, env = dicom_process
    cines = [_make_cine(tmp_path, seed) for seed in range(CINES)]
    assert len({cine.data_set_sha256 for cine in cines}) == CINES

    memory = TreeMemory(pid)
    memory.start()
    start = threading.Barrier(CINES)
    # The files' bytes exactly, read and sent in pieces (not decoded into memory first).
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        with ThreadPoolExecutor(CINES) as pool:
            statuses = list(pool.map(lambda cine: _send(port, cine, start), cines))
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        memory.done.set()
        memory.join()

    assert statuses == [0x0000] * CINES
    assert memory.samples > 10  # it really sampled while the cines arrived
    assert memory.peak < MEMORY_LIMIT, f"peak {memory.peak / 2**20:.0f} MB"

    archive = Path(settings.ARCHIVE_DIR)
    assert InstanceFile.objects.count() == CINES
    for cine in cines:
        stored = InstanceFile.objects.get(instance__sop_instance_uid=cine.sop_instance_uid)
        path = archive / stored.relative_path
        assert (stored.size, stored.instance.number_of_frames) == (path.stat().st_size, FRAMES)
        assert _sha256(path, 0) == stored.sha256, cine.path
        # The archive adds its own File Meta; the data set is byte for byte what was sent.
        assert _sha256(path, stored.size - cine.data_set_length) == cine.data_set_sha256
    assert not list((archive / "tmp").glob(f"{SPOOL_PREFIX}*"))

    verify = subprocess.run(
        [sys.executable, "-m", "echoshare.cli", "archive", "verify"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"checked {CINES}, missing 0, changed 0, unindexed 0" in verify.stdout
