"""System checks of the archive (CONVENTIONS 2)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_archive_dir(app_configs: Any, **kwargs: Any) -> list[Any]:
    """ARCHIVE_DIR must be a writable folder, or creatable under a writable one."""
    folder = Path(settings.ARCHIVE_DIR)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        return []
    return [
        Error(
            f"ECHOSHARE_ARCHIVE_DIR {folder} is not a writable folder (checked {existing}).",
            hint="Create it and give the user that runs echoshare write access.",
            id="echoshare.E020",
        )
    ]
