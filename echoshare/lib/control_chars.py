"""Control characters written out as text, for the audit log and the application logs (G4):
a value can then never start a forged line or hide what follows."""

from __future__ import annotations

_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def escaped_char(char: str) -> str:
    """One control character as text: CR, LF and TAB by name, others as \\xNN or \\uNNNN."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
