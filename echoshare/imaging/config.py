"""Render settings from Django's settings (the Imaging section of settings.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from echoshare.imaging.clips import ClipSettings
from echoshare.imaging.render import RenderSettings
from echoshare.imaging.stills import JpegSettings


def render_settings() -> RenderSettings:
    return RenderSettings(
        pixel_budget=settings.IMAGING_PIXEL_BUDGET,
        jpeg=JpegSettings(
            quality=settings.IMAGING_JPEG_QUALITY, thumbnail_size=settings.IMAGING_THUMBNAIL_SIZE
        ),
        clip=ClipSettings(crf=settings.IMAGING_H264_CRF, preset=settings.IMAGING_H264_PRESET),
    )


def cache_root() -> Path:
    return Path(settings.DATA_DIR) / "render-cache"
