"""Log scrubbing: no link token in a logged path, no raw control characters (G2, G4)."""

from __future__ import annotations

import logging
import re

# Anything that looks like a share token in a URL path (/s/<token>/...).
_TOKEN_IN_PATH = re.compile(r"(/s/)[A-Za-z0-9_-]{16,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def scrub(text: str) -> str:
    text = _TOKEN_IN_PATH.sub(r"\1[token]", text)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        return True
