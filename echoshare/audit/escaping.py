"""Escaping of values that go into audit records (G4).

A DICOM value or a form field may hold CR/LF or other control characters; written as they
are, they could forge extra lines in an export of the log or hide text from a reader. Every
control character (C0, DEL, C1 and the Unicode line/paragraph separators) becomes a visible
escape; backslashes are doubled first so that an escape can never be faked by the input.
"""

from __future__ import annotations

import re

from echoshare.lib.control_chars import escaped_char

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_one(match: re.Match[str]) -> str:
    return escaped_char(match.group())


def escape_control(value: str) -> str:
    return _CONTROL.sub(_escape_one, value.replace("\\", "\\\\"))


def fit(value: str, max_length: int) -> str:
    """Cut an escaped value to a column's length, marking the cut, rather than fail the write."""
    if len(value) <= max_length:
        return value
    return value[: max_length - 1] + "…"
