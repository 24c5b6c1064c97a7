"""DICOM ingest benchmark (not a test): echoshare's listener against dcmtk `storescp` and
Orthanc, the same data and the same sender, in one run.

    uv run python bench/ingest/run.py [--runs 3] [--singles 200] [--cines 3] [--processes 1]
                                      [--keep DIR]

Data (made fresh with numpy + pydicom, dcmtk's dcmcjpeg for the JPEG cine): 800x600 RGB
single frames, uncompressed 120-frame 800x600 RGB cines (173 MB each), one JPEG-baseline cine.
Sender: dcmtk `storescu` with TCP_NODELAY=1 (Debian's dcmtk stalls ~40 ms per message
without it; Orthanc and storescp get it too). Receivers:
  - echoshare: `echoshare dicom` with durability (fsync file + folder) and indexing
    (SQLite in WAL mode, synchronous=FULL) on, as deployed;
  - dcmtk `storescp --fork` (the practical limit: writes files, no index);
  - Orthanc (Debian package, default storage; it fsyncs too), when installed.
Each of `--runs` rounds starts every receiver afresh, one after the other, so that the shared
machine's load falls on all of them; the figures are the medians of the rounds, and each
round's single-frame ratio is printed too. Prints MB/s and instances/s per receiver and
batch, peak memory (RSS of the receiver's whole process tree, sampled every 20 ms),
echoshare's ratios, and the same with 4 senders at once.
Targets (issue 4): cine MB/s >= 1.0x Orthanc; singles inst/s >= 0.8x Orthanc with one sender;
receiver memory under 300 MB while a 173 MB cine arrives.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

ROOT = Path(__file__).resolve().parents[2]
DCMTK = Path(os.environ.get("DCMTK_BIN", "/usr/bin"))  # not the venv's pynetdicom apps
ROWS, COLUMNS, FRAMES = 600, 800, 120
NODELAY = {**os.environ, "TCP_NODELAY": "1"}


# --- data ---------------------------------------------------------------------------------


def _image(sop_class: str, pixels: np.ndarray, frames: int | None) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "BENCH"
    ds.PatientName = "Bench^Mark"
    ds.StudyDate = "20260310"
    ds.Modality = "US"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation, ds.PlanarConfiguration = 0, 0
    if frames:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def make_data(folder: Path, singles: int, cines: int) -> dict[str, list[Path]]:
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 255, (ROWS, COLUMNS, 3), dtype=np.uint8)
    batches: dict[str, list[Path]] = {"singles": [], "cines": [], "jpeg cine": []}
    (folder / "singles").mkdir(parents=True)
    for number in range(singles):
        path = folder / "singles" / f"s{number:04d}.dcm"
        _image(UltrasoundImageStorage, np.roll(frame, number, axis=1), None).save_as(
            path, enforce_file_format=True
        )
        batches["singles"].append(path)
    cine_pixels = np.stack([np.roll(frame, n, axis=0) for n in range(FRAMES)])
    for number in range(cines + 1):
        path = folder / f"cine{number}.dcm"
        _image(UltrasoundMultiFrameImageStorage, cine_pixels, FRAMES).save_as(
            path, enforce_file_format=True
        )
        batches["cines"].append(path)
    # The JPEG cine is the last uncompressed one, compressed (and then not sent raw).
    source = batches["cines"].pop()
    jpeg = folder / "cine_jpeg.dcm"
    subprocess.run([DCMTK / "dcmcjpeg", "+eb", source, jpeg], check=True)
    source.unlink()
    batches["jpeg cine"].append(jpeg)
    return batches


# --- receivers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Receiver:
    name: str
    port: int
    ae_title: str
    process: subprocess.Popen[bytes]
    store_dir: Path
    peak_rss: int = 0
    _sampling: bool = field(default=True, repr=False)

    def tree_rss(self) -> int:
        """Resident memory of the receiver and all its descendants, in bytes."""
        pids, total = [self.process.pid], 0
        while pids:
            pid = pids.pop()
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            pids += [int(child) for child in children]
        return total

    def sample_memory(self) -> None:
        while self._sampling:
            self.peak_rss = max(self.peak_rss, self.tree_rss())
            time.sleep(0.02)

    def stop(self) -> None:
        self._sampling = False
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for_echo(port: int, ae_title: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        echo = subprocess.run(
            [DCMTK / "echoscu", "-aec", ae_title, "127.0.0.1", str(port)],
            env=NODELAY,
            capture_output=True,
            check=False,
        )
        if echo.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"receiver on port {port} did not answer C-ECHO")


def start_echoshare(work: Path, processes: int) -> Receiver:
    data = work / "echoshare"
    data.mkdir()
    env = {
        **os.environ,
        "ECHOSHARE_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "ECHOSHARE_LOG_LEVEL": "warning",
        "ECHOSHARE_DICOM_PROCESSES": str(processes),
    }
    manage = [sys.executable, "-m", "echoshare.cli"]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    port = free_port()
    process = subprocess.Popen(
        [*manage, "dicom", "--port", str(port), "--bind", "127.0.0.1"], env=env, cwd=ROOT
    )
    wait_for_echo(port, "ECHOSHARE")
    return Receiver("echoshare", port, "ECHOSHARE", process, data / "archive")


def start_storescp(work: Path) -> Receiver:
    store = work / "storescp"
    store.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [DCMTK / "storescp", "--fork", "+xa", "-od", store, str(port)],
        env=NODELAY,
        stderr=subprocess.DEVNULL,
    )
    wait_for_echo(port, "STORESCP")
    return Receiver("storescp", port, "STORESCP", process, store)


def start_orthanc(work: Path) -> Receiver | None:
    binary = shutil.which("Orthanc")
    if binary is None:
        return None
    folder = work / "orthanc"
    folder.mkdir()
    port = free_port()
    config = {
        "Name": "bench",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "DicomAet": "ORTHANC",
        "DicomPort": port,
        "HttpPort": free_port(),
        "HttpServerEnabled": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "Plugins": [],
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [binary, str(folder / "orthanc.json")],
        env=NODELAY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_echo(port, "ORTHANC")
    return Receiver("Orthanc", port, "ORTHANC", process, folder / "storage")


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    sampler = threading.Thread(target=receiver.sample_memory, daemon=True)
    sampler.start()
    try:
        yield receiver
    finally:
        receiver.stop()
        sampler.join()


# --- sending ------------------------------------------------------------------------------


def send(receiver: Receiver, files: list[Path], senders: int = 1) -> float:
    """Seconds for `senders` storescu processes to send `files` (split between them)."""
    syntax = "-xy" if any("jpeg" in path.name for path in files) else "-xe"
    groups = [files[i::senders] for i in range(senders)]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                DCMTK / "storescu",
                "-R",
                syntax,
                "-aec",
                receiver.ae_title,
                "127.0.0.1",
                str(receiver.port),
                *group,
            ],
            env=NODELAY,
        )
        for group in groups
        if group
    ]
    failed = [process.wait() for process in processes]
    elapsed = time.perf_counter() - started
    if any(failed):
        raise RuntimeError(f"storescu failed against {receiver.name}")
    return elapsed


@dataclass
class Result:
    seconds: float
    count: int
    megabytes: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.megabytes / self.seconds


def measure(
    start: Callable[[], Receiver | None], batches: dict[str, list[Path]]
) -> tuple[dict[str, Result], int] | None:
    receiver = start()
    if receiver is None:
        return None
    results: dict[str, Result] = {}
    with running(receiver):
        for name, files in batches.items():
            size = sum(path.stat().st_size for path in files) / 1e6
            results[name] = Result(send(receiver, files), len(files), size)
        singles = batches["singles"]
        size = sum(path.stat().st_size for path in singles) / 1e6
        results["singles, 4 senders"] = Result(send(receiver, singles, 4), len(singles), size)
    total = [results[name] for name in batches]
    results["whole batch"] = Result(
        sum(r.seconds for r in total), sum(r.count for r in total), sum(r.megabytes for r in total)
    )
    return results, receiver.peak_rss


def report(measured: dict[str, tuple[dict[str, Result], int]]) -> None:
    print(f"\n{'receiver':<10} {'batch':<20} {'inst/s':>8} {'MB/s':>8} {'seconds':>8}")
    for receiver, (results, _) in measured.items():
        for batch, result in results.items():
            print(
                f"{receiver:<10} {batch:<20} {result.per_second:8.1f} "
                f"{result.mb_per_second:8.1f} {result.seconds:8.2f}"
            )
    print("\npeak memory (receiver process tree):")
    for receiver, (_, peak) in measured.items():
        print(f"  {receiver:<10} {peak / 1e6:7.0f} MB")
    ours = measured["echoshare"][0]
    for reference in ("Orthanc", "storescp"):
        if reference not in measured:
            print(f"\n{reference}: not measured (not installed)")
            continue
        theirs = measured[reference][0]
        print(f"\nechoshare / {reference}:")
        for batch in ours:
            inst = ours[batch].per_second / theirs[batch].per_second
            mbs = ours[batch].mb_per_second / theirs[batch].mb_per_second
            print(f"  {batch:<20} inst/s {inst:5.2f}x   MB/s {mbs:5.2f}x")


def median_of(rounds: list[tuple[dict[str, Result], int]]) -> tuple[dict[str, Result], int]:
    """Per batch the round with the median time; peak memory the highest of all rounds."""
    results = {
        batch: sorted((r[batch] for r, _ in rounds), key=lambda r: r.seconds)[len(rounds) // 2]
        for batch in rounds[0][0]
    }
    return results, max(peak for _, peak in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--cines", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="rounds over all receivers")
    parser.add_argument("--processes", type=int, default=1, help="echoshare listener processes")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="echoshare-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"making data in {work} ...", flush=True)
        batches = make_data(work / "data", args.singles, args.cines)
        rounds: dict[str, list[tuple[dict[str, Result], int]]] = {}
        # Receivers take turns within each round, so that the load of the shared machine
        # falls on all of them; each round starts every receiver afresh (empty archive).
        for number in range(1, args.runs + 1):
            for name, start in (
                ("storescp", lambda: start_storescp(work)),
                ("Orthanc", lambda: start_orthanc(work)),
                ("echoshare", lambda: start_echoshare(work, args.processes)),
            ):
                print(f"round {number}: measuring {name} ...", flush=True)
                try:
                    outcome = measure(start, batches)
                except RuntimeError as failed:  # a receiver refused or aborted: say so
                    print(f"round {number}: {name} failed, round not counted: {failed}")
                    outcome = None
                if outcome is not None:
                    rounds.setdefault(name, []).append(outcome)
                for leftover in ("storescp", "orthanc", "echoshare"):
                    shutil.rmtree(work / leftover, ignore_errors=True)  # room for the next
        report_rounds(rounds)
        print(f"\nmedian of {args.runs} rounds:")
        report({name: median_of(taken) for name, taken in rounds.items()})
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def report_rounds(rounds: dict[str, list[tuple[dict[str, Result], int]]]) -> None:
    """Each round's single-frame ratio to Orthanc, to show how much the machine moved."""
    if "Orthanc" not in rounds:
        return
    if len(rounds["Orthanc"]) != len(rounds.get("echoshare", [])):
        return  # a failed round: the medians below still compare what was measured
    pairs = zip(rounds["echoshare"], rounds["Orthanc"], strict=True)
    for number, ((ours, _), (theirs, _)) in enumerate(pairs, start=1):
        ratio = ours["singles"].per_second / theirs["singles"].per_second
        print(
            f"round {number}: singles echoshare {ours['singles'].per_second:.1f} inst/s, "
            f"Orthanc {theirs['singles'].per_second:.1f} inst/s, ratio {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
