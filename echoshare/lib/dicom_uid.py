"""DICOM UIDs made by echoshare."""

from __future__ import annotations

import uuid


def new_uid() -> str:
    """A globally unique DICOM UID under the UUID-derived root 2.25 (PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"
