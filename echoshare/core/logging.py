"""Log scrubbing: no link token in a logged path, no raw control characters (G2, G4).

`ScrubFilter` sits on every handler in settings.LOGGING (a handler's filters also see the
records that propagate from child loggers; a logger's filters would not). It rewrites the
whole record, not only its message: the traceback of `logger.exception(...)` and a
`stack_info` carry text from outside too (an exception echoing a path or a DICOM value).

The traceback is formatted once here, scrubbed, kept as `exc_text`, and `exc_info` is
cleared, so that no handler or formatter can format the raw exception again. Its line breaks
are escaped like any other: a log line is one record's message, and the traceback follows on
one more line (read it with `sed 's/\\n/\n/g'`). Nothing here knows a patient's password or
delete code: code that logs an exception which may hold them redacts it before logging
(echoshare.notify.services).
"""

from __future__ import annotations

import logging
import re

from echoshare.lib.control_chars import escaped_char

# Anything that looks like a share token in a URL path (/s/<token>/...).
_TOKEN_IN_PATH = re.compile(r"(/s/)[A-Za-z0-9_-]{16,}")
# C0 (tab kept), DEL, C1 (with NEL, U+0085) and the Unicode line and paragraph separators:
# each of them ends a line in some log viewer or export.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_SCRUBBED = "_echoshare_scrubbed"

# Formats a traceback exactly as logging's default formatter would.
_EXCEPTION_FORMATTER = logging.Formatter()


def _escape_one(match: re.Match[str]) -> str:
    return escaped_char(match.group())


def scrub(text: str) -> str:
    """The text with share tokens in paths hidden and control characters escaped.

    Idempotent (a record may pass through several handlers): backslashes are not doubled,
    so an escape written by the input stays as it is; in a log that is harmless.
    """
    text = _TOKEN_IN_PATH.sub(r"\1[token]", text)
    return _CONTROL.sub(_escape_one, text)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a broken format string must not lose the record
        return str(record.msg)


def scrub_record(record: logging.LogRecord) -> None:
    """Rewrite message, traceback and stack of a record in place, once."""
    if getattr(record, _SCRUBBED, False):
        return
    record.msg = scrub(_message(record))
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = _EXCEPTION_FORMATTER.formatException(record.exc_info)
    record.exc_info = None
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    setattr(record, _SCRUBBED, True)


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True
