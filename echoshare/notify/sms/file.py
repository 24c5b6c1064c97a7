"""Writes each SMS to its own file in the SMS outbox folder (demo and tests).

One file per message, named by its reference and written atomically: a second attempt of
the same message replaces the file instead of adding one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings

from echoshare.notify.errors import NotDeliveredError
from echoshare.notify.sms.base import SmsBackend


def sms_outbox_dir() -> Path:
    return (
        Path(settings.SMS_FILE_DIR)
        if settings.SMS_FILE_DIR
        else settings.DATA_DIR / "outbox" / "sms"
    )


class FileBackend(SmsBackend):
    name = "file"
    dedupes = True

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        folder = sms_outbox_dir()
        target = folder / f"{reference}.txt"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sms-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"From: {sender}\nTo: {to}\n\n{body}\n")
            os.replace(tmp, target)
        except OSError as exc:
            raise NotDeliveredError(f"file: cannot write {target}: {exc.strerror}") from exc
        return target.name
