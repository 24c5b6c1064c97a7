"""Rendered outputs go with the archived files they were rendered from (connected in apps.py).

Publishing renders archived DICOM files and exported media into the render cache keyed by
the archive's SHA-256 of each file (cache.py), so the archive's signals name exactly the
cache folders to remove. Only the signals module of the archive is imported: imaging stays
free of the archive's models.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from echoshare.imaging.cache import cache_remove_sources, cache_sweep


def remove_renders(sender: Any, *, sha256s: Collection[str], **kwargs: Any) -> int:
    """archived_files_deleted: every render of deleted archived files goes too."""
    return cache_remove_sources(sha256s)


def sweep_renders(
    sender: Any, *, still_archived: Callable[[Collection[str]], Collection[str]], **kwargs: Any
) -> int:
    """derived_copies_sweep: renders whose archived file is gone go too."""
    return cache_sweep(still_archived)
