"""Clips: masked display-space frames streamed into an H.264 MP4 that phones and browsers play.

H.264 High profile, yuv420p, even dimensions, `+faststart` (the index first, so playback
starts before the download ends), one video stream and nothing else: no audio, no creation
time, no encoder or title tags (`+bitexact` keeps FFmpeg from writing its own) (A6).
Frames are encoded as they arrive; memory holds only the encoder's few frames of lookahead.
"""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np

from echoshare.imaging.errors import ImageRefused

# swscale turns RGB into limited-range BT.601 YUV; say so in the stream so players turn it
# back the same way (untagged streams are guessed differently by different browsers).
_X264_COLOUR = "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


@dataclass(frozen=True)
class ClipSettings:
    crf: int = 23
    preset: str = "veryfast"


@dataclass(frozen=True)
class ClipInfo:
    frames: int
    width: int
    height: int
    frame_rate: Fraction


def encode_clip(
    frames: Iterable[np.ndarray],
    *,
    path: Path,
    frame_rate: Fraction,
    settings: ClipSettings,
) -> ClipInfo:
    """Encode RGB uint8 frames (all the same, even size) into an MP4 at `path`."""
    container = av.open(
        str(path), "w", format="mp4", options={"movflags": "+faststart", "fflags": "+bitexact"}
    )
    stream: av.VideoStream | None = None
    count = 0
    try:
        for frame in _prepared(frames):
            if stream is None:
                stream = _video_stream(container, frame.width, frame.height, frame_rate, settings)
            elif (frame.width, frame.height) != (stream.width, stream.height):
                raise ImageRefused("the frames of the clip differ in size")
            frame.pts = count
            container.mux(stream.encode(frame))
            count += 1
        if stream is None:
            raise ImageRefused("broken pixel data: no frame to encode")
        container.mux(stream.encode(None))
    finally:
        container.close()
    return ClipInfo(frames=count, width=stream.width, height=stream.height, frame_rate=frame_rate)


_END = object()


def _prepared(frames: Iterable[np.ndarray], depth: int = 4) -> Iterator[av.VideoFrame]:
    """The frames as yuv420p VideoFrames, made in a second thread while x264 encodes.

    Reading, masking and the RGB to YUV conversion then overlap with encoding, as they do in
    the ffmpeg command line. At most `depth` frames wait in between: memory stays bounded.
    Exceptions in the producer (ImageRefused for broken input) surface here.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for array in frames:
                if stop.is_set():
                    return
                height, width = array.shape[:2]
                if width % 2 or height % 2:
                    raise ValueError(f"H.264 needs even dimensions, got {width}x{height}")
                rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
                ready.put(rgb.reformat(format="yuv420p"))
            ready.put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            ready.put(exc)

    producer = threading.Thread(target=produce, name="clip-frames", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield cast(av.VideoFrame, item)
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        producer.join()


def _video_stream(
    container: av.container.OutputContainer,
    width: int,
    height: int,
    frame_rate: Fraction,
    settings: ClipSettings,
) -> av.VideoStream:
    stream = container.add_stream("libx264", rate=frame_rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = 1 / frame_rate
    # As the ffmpeg command line does: x264's frame threads (PyAV's default, slice threads,
    # is markedly slower).
    stream.codec_context.thread_type = "AUTO"
    stream.options = {
        "crf": str(settings.crf),
        "preset": settings.preset,
        "profile": "high",
        "x264-params": _X264_COLOUR,
    }
    return stream


def mp4_top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes in file order (`moov` before `mdat` = faststart)."""
    boxes = []
    with path.open("rb") as f:
        while header := f.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                (size,) = struct.unpack(">Q", f.read(8))
                f.seek(size - 16, 1)
            elif size == 0:
                boxes.append(kind.decode("latin-1"))
                break
            else:
                f.seek(size - 8, 1)
            boxes.append(kind.decode("latin-1"))
    return boxes
