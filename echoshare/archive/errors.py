"""Why the archive refuses an instance, as the DIMSE status a C-STORE answers (PS3.4 B.2.3).

Re-exported from `echoshare.archive.services`; the DICOM handler answers `exc.status`, the
web upload maps it to an HTTP status.
"""

from __future__ import annotations

# C-STORE failure statuses (PS3.4 Table B.2-1, PS3.7 C.4.2).
OUT_OF_RESOURCES = 0xA700  # disk full, archive or database unavailable
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
SOP_CLASS_NOT_SUPPORTED = 0x0122


class IngestRefused(Exception):
    """Bad input (or no room): `.status` is the DIMSE failure status, `.reason` is text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"0x{status:04X}: {reason}")
        self.status = status
        self.reason = reason
