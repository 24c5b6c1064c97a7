"""The one error rendering raises for input it will not render, with a reason for staff."""

from __future__ import annotations


class ImageRefused(Exception):
    """The input cannot be rendered; `reason` is shown to staff as is.

    Raised for input that is broken or too large (checked from the header, before any pixel
    is decoded), never for a programming error: those must surface as themselves.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
