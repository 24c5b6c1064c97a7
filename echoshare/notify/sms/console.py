"""Prints each SMS to standard output (development)."""

from __future__ import annotations

import sys

from echoshare.notify.sms.base import SmsBackend


class ConsoleBackend(SmsBackend):
    name = "console"
    dedupes = True  # nothing leaves the machine

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        sys.stdout.write(f"SMS from {sender} to {to} [{reference}]\n{body}\n{'-' * 40}\n")
        sys.stdout.flush()
        return f"console-{reference}"
