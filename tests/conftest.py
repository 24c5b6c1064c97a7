"""Fixtures shared by the whole suite. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(autouse=True)
def _isolated_folders(settings, tmp_path: Path) -> Iterator[None]:
    """Every test gets its own data, archive and portal-media folders."""
    settings.DATA_DIR = tmp_path / "data"
    settings.PORTAL_MEDIA_DIR = tmp_path / "portal-media"
    settings.ARCHIVE_DIR = tmp_path / "archive"
    for folder in (settings.DATA_DIR, settings.PORTAL_MEDIA_DIR, settings.ARCHIVE_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    yield


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests save screenshots and other things a person may want to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
