"""Staff thumbnails go with the archived files they show (connected in apps.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from echoshare.clinic.staff.thumbnails import thumbnails_remove, thumbnails_sweep


def remove_thumbnails(sender: Any, *, sha256s: Collection[str], **kwargs: Any) -> int:
    """archived_files_deleted: the thumbnails of deleted archived files go too."""
    return thumbnails_remove(sha256s)


def sweep_thumbnails(
    sender: Any, *, still_archived: Callable[[Collection[str]], Collection[str]], **kwargs: Any
) -> int:
    """derived_copies_sweep: thumbnails whose archived file is gone go too."""
    return thumbnails_sweep(still_archived)
