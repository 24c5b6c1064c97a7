"""Rendering benchmark (not a test): echoshare against the ffmpeg command line, in one run.

    uv run python bench/render/run.py [--runs 3] [--keep DIR]

Measures, on the same files made fresh for the run:
  1. a 120-frame 800x600 uncompressed RGB cine -> MP4: echoshare vs `ffmpeg` encoding the
     same raw frames with the same settings (the practical limit);
  2. the same cine as JPEG baseline -> MP4: echoshare vs `ffmpeg` decoding the same JPEG
     frames itself;
  3. 20 single-frame 800x600 stills -> JPEG + thumbnail;
and prints seconds (median of --runs), frames per second, peak memory (max RSS of the process
doing the work) and the ratio to ffmpeg. Every measurement runs in its own child process.
Targets (issue 5): clip within 1.3x of ffmpeg from raw frames; within 2x of ffmpeg for JPEG
frames; 10 stills + one 120-frame clip under 5 s; peak memory under 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

ROOT = Path(__file__).resolve().parents[2]
ROWS, COLUMNS, FRAMES, RATE = 600, 800, 120, 25
CRF, PRESET = 23, "veryfast"
STILLS = 20


# --- test data --------------------------------------------------------------------------------


def _frames(count: int, seed: int = 1) -> np.ndarray:
    """Ultrasound-like frames: speckle in a sector that drifts, text-free black screen."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:ROWS, 0:COLUMNS]
    sector = ((xs - COLUMNS / 2) ** 2 + (ys + 100) ** 2 < 620**2) & (ys > 60) & (ys < 560)
    # Speckle: coarse grains (2x2) of random brightness, drifting as the probe moves.
    grains = rng.integers(0, 200, (ROWS // 2, COLUMNS // 2), dtype=np.uint8)
    base = np.kron(grains, np.ones((2, 2), dtype=np.uint8))
    frames = np.zeros((count, ROWS, COLUMNS, 3), dtype=np.uint8)
    for i in range(count):
        speckle = np.roll(base, i * 2, axis=1)
        grey = np.where(sector, speckle, 0).astype(np.uint8)
        frames[i] = grey[..., None]
        frames[i, 200 + i : 260 + i, 300:380, 0] = 220  # a colour Doppler blob that moves
    return frames


def _dataset(frames: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "US", "Bench", "Cine 1"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = ROWS, COLUMNS, 3
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if len(frames) > 1:
        ds.NumberOfFrames, ds.CineRate = len(frames), RATE
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 40, 60
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 759, 559
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = frames.tobytes()
    return ds


def make_data(folder: Path) -> dict[str, Path]:
    cine = _frames(FRAMES)
    paths = {"raw": folder / "cine.rgb", "cine": folder / "cine.dcm"}
    paths["raw"].write_bytes(cine.tobytes())
    _dataset(cine).save_as(paths["cine"], enforce_file_format=True)
    paths["jpeg_cine"] = folder / "cine-jpeg.dcm"
    subprocess.run(
        ["dcmcjpeg", "+eb", paths["cine"], paths["jpeg_cine"]],
        check=True,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    paths["mjpeg"] = folder / "cine.mjpeg"  # the very same JPEG frames, for ffmpeg
    encapsulated = dcmread(paths["jpeg_cine"]).PixelData
    with paths["mjpeg"].open("wb") as out:
        for frame in generate_frames(encapsulated, number_of_frames=FRAMES):
            out.write(frame)
    stills = folder / "stills"
    stills.mkdir()
    for i, frame in enumerate(_frames(STILLS, seed=2)):
        _dataset(frame[None]).save_as(stills / f"still-{i:02d}.dcm", enforce_file_format=True)
    paths["stills"] = stills
    return paths


# --- measurements -----------------------------------------------------------------------------


def _high_water(pid: int) -> int:
    """VmHWM of a running process in bytes (0 once it is gone).

    Not ru_maxrss: Linux carries the parent's high-water mark into a child across fork and
    exec, so every child would report at least the size of this benchmark process.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _child(argv: list[str]) -> tuple[float, int, str]:
    """Run a child process; (wall seconds, peak RSS in bytes, stdout)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _high_water(process.pid))
            time.sleep(0.005)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if process.returncode:
        raise RuntimeError(f"{argv[0]} failed: {stderr[-2000:]}")
    if stdout.startswith("{"):  # echoshare reports its own high-water mark at the end
        peak = max(peak, json.loads(stdout).get("peak", 0))
    return seconds, peak, stdout


def ffmpeg_raw(paths: dict[str, Path], out: Path) -> tuple[float, int]:
    seconds, rss, _ = _child(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{COLUMNS}x{ROWS}", "-r", str(RATE), "-i", str(paths["raw"]),
            "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p",
            "-an", "-movflags", "+faststart", str(out),
        ]
    )  # fmt: skip
    return seconds, rss


def ffmpeg_mjpeg(paths: dict[str, Path], out: Path) -> tuple[float, int]:
    seconds, rss, _ = _child(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "mjpeg", "-framerate", str(RATE),
            "-i", str(paths["mjpeg"]), "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF),
            "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart", str(out),
        ]
    )  # fmt: skip
    return seconds, rss


_ECHOSHARE = """
import json, sys, time
from pathlib import Path
from echoshare.imaging.clips import ClipSettings
from echoshare.imaging.render import RenderSettings, render_item
settings = RenderSettings(clip=ClipSettings(crf={crf}, preset="{preset}"))
out = Path(sys.argv[1])
start = time.perf_counter()
for number, path in enumerate(sys.argv[2:]):
    result = render_item(path, out_dir=out / str(number), settings=settings)
    assert result.branch == "regions", result.reason
seconds = time.perf_counter() - start
status = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
print(json.dumps({{"seconds": seconds, "peak": int(status) * 1024}}))
"""


def echoshare(files: list[Path], out: Path) -> tuple[float, int]:
    """Seconds inside the worker (imports excluded: a worker pays them once) and peak RSS."""
    code = _ECHOSHARE.format(crf=CRF, preset=PRESET)
    _, rss, stdout = _child([sys.executable, "-c", code, str(out), *map(str, files)])
    return json.loads(stdout)["seconds"], rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep data and outputs in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="echoshare-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        paths = make_data(folder)
        stills = sorted(paths["stills"].glob("*.dcm"))

        def out(name: str) -> Path:
            target = folder / "out" / name
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            return target

        measures = {
            "ff-raw": lambda: ffmpeg_raw(paths, out("ff-raw") / "c.mp4"),
            "es-raw": lambda: echoshare([paths["cine"]], out("es-raw")),
            "ff-jpg": lambda: ffmpeg_mjpeg(paths, out("ff-jpg") / "c.mp4"),
            "es-jpg": lambda: echoshare([paths["jpeg_cine"]], out("es-jpg")),
            "es-stills": lambda: echoshare(stills, out("es-stills")),
            "es-publish": lambda: echoshare([*stills[:10], paths["cine"]], out("es-publish")),
        }
        # Interleaved, so that the load of a shared machine falls on reference and ours alike.
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in measures}
        for _ in range(args.runs):
            for name, measure in measures.items():
                results[name].append(measure())
        m = {
            name: (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
            for name, runs in results.items()
        }
        rows = [
            ("ffmpeg CLI, raw frames -> MP4", m["ff-raw"], FRAMES, None),
            ("echoshare, uncompressed cine -> MP4", m["es-raw"], FRAMES, m["ff-raw"][0]),
            ("ffmpeg CLI, JPEG frames -> MP4", m["ff-jpg"], FRAMES, None),
            ("echoshare, JPEG-baseline cine -> MP4", m["es-jpg"], FRAMES, m["ff-jpg"][0]),
            (f"echoshare, {STILLS} stills -> JPEG + thumbnail", m["es-stills"], STILLS, None),
            ("echoshare, 10 stills + 120-frame clip", m["es-publish"], FRAMES + 10, None),
        ]
        print(f"\n{FRAMES} frames {COLUMNS}x{ROWS}, libx264 {PRESET} CRF {CRF}, runs={args.runs}")
        print(f"{'what':46} {'seconds':>8} {'fps':>7} {'peak MB':>8} {'ratio':>6}")
        for label, (seconds, rss), frames, reference in rows:
            ratio = f"{seconds / reference:.2f}" if reference else ""
            print(
                f"{label:46} {seconds:8.2f} {frames / seconds:7.1f} {rss / 2**20:8.0f} {ratio:>6}"
            )
        print("\ntargets: uncompressed <= 1.3x, JPEG <= 2x, 10 stills + clip < 5 s, peak < 400 MB")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
