"""SMS backends, chosen by ECHOSHARE_SMS_BACKEND."""

from __future__ import annotations

from django.conf import settings

from echoshare.notify.sms.base import SmsBackend
from echoshare.notify.sms.console import ConsoleBackend
from echoshare.notify.sms.file import FileBackend
from echoshare.notify.sms.http import HttpBackend
from echoshare.notify.sms.messagebird import MessageBirdBackend
from echoshare.notify.sms.twilio import TwilioBackend

BACKENDS: dict[str, type[SmsBackend]] = {
    backend.name: backend
    for backend in (ConsoleBackend, FileBackend, TwilioBackend, MessageBirdBackend, HttpBackend)
}


def sms_backend() -> SmsBackend:
    return BACKENDS[settings.SMS_BACKEND]()
