"""Exported media as a machine writes them to USB, with the metadata that must never reach a
patient: a JPEG with EXIF (GPS and a canary description), a PNG with a text chunk canary, an
MP4 with an audio stream and a canary title tag. And readers that look for what is left."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import ExifTags, Image, ImageDraw, PngImagePlugin

CANARY = "CANARY-Vandermeulen-PUBPID0042"
WIDTH, HEIGHT = 320, 240
# The ultrasound picture: the crop staff set keeps only this (the banner with the name is above).
CROP = (40, 60, 279, 219)


def _screen() -> Image.Image:
    """A machine's screen: a banner with the patient's name on top, the picture below."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH - 1, 40), fill=(255, 255, 255))
    draw.text((4, 10), CANARY, fill=(0, 0, 0))
    draw.ellipse((80, 80, 240, 200), fill=(180, 180, 180))
    return image


def make_jpeg(path: Path) -> Path:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = CANARY
    exif[ExifTags.Base.Make] = "ACME"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 5.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 10.0)
    _screen().save(path, format="JPEG", exif=exif, quality=92)
    return path


def make_png(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", CANARY)
    info.add_itxt("Description", CANARY)
    _screen().save(path, format="PNG", pnginfo=info)
    return path


def make_mp4(path: Path, *, frames: int = 12) -> Path:
    """H.264 video of the screen (moving picture) with an AAC audio stream and a title tag."""
    with av.open(str(path), "w", format="mp4") as container:
        container.metadata["title"] = CANARY
        container.metadata["comment"] = CANARY
        video = container.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        base = np.asarray(_screen())
        for index in range(frames):
            pixels = base.copy()
            pixels[100:140, 100 + index * 4 : 140 + index * 4] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for index in range(frames * 4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, index * 1024
            frame.time_base = Fraction(1, 44100)
            for packet in audio.encode(frame):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def has_text(path: Path, text: str = CANARY) -> bool:
    return text.encode() in path.read_bytes()


def still_metadata(path: Path) -> tuple[dict[int, object], dict[str, object]]:
    """(EXIF tags, other info such as PNG text chunks) of an image file."""
    with Image.open(path) as image:
        return dict(image.getexif()), {k: v for k, v in image.info.items() if k != "dpi"}


def video_streams(path: Path) -> tuple[list[str], dict[str, str]]:
    """(stream kinds, container tags) of a video file."""
    with av.open(str(path)) as container:
        return [s.type for s in container.streams], dict(container.metadata)
