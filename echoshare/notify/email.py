"""Sending one outbox e-mail through Django's configured e-mail backend (console, file, SMTP).

The connection is opened separately from the send so that a failure to connect (certainly
not sent, retry) is told apart from a failure half-way through the SMTP dialogue (maybe
sent: the outcome is unknown).
"""

from __future__ import annotations

import smtplib
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from echoshare.notify.errors import NotDeliveredError, OutcomeUnknownError, RejectedError
from echoshare.notify.models import Message

PROVIDER = "email"


def _from_address(clinic_name: str) -> str:
    """DEFAULT_FROM_EMAIL with the clinic's name as the display name."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((clinic_name or name, address))


def _message_id(message: Message) -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    # The same on every attempt: mail systems that see the same Message-ID twice may fold
    # the copies into one.
    return f"<{message.reference.hex}@{domain}>"


def email_outbox_dir() -> Path:
    """Where the `file` backend writes mails (the demo prints them from here)."""
    if settings.EMAIL_FILE_PATH:
        return Path(settings.EMAIL_FILE_PATH)
    return Path(settings.DATA_DIR) / "outbox" / "email"


def _connection() -> Any:
    if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        return get_connection(fail_silently=False, file_path=str(email_outbox_dir()))
    return get_connection(fail_silently=False)


def _smtp_code_error(code: int, reason: str) -> Exception:
    """4xx replies are temporary (try again later), 5xx permanent (RFC 5321 4.2.1)."""
    if 400 <= code < 500:
        return NotDeliveredError(f"SMTP {code}: {reason}")
    return RejectedError(f"SMTP {code}: {reason}")


def email_deliver(*, message: Message, payload: dict[str, str], clinic_name: str) -> str:
    """Send it; return the Message-ID. Raises a DeliveryError subclass on failure."""
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=payload["text"],
        from_email=_from_address(clinic_name),
        to=[message.recipient],
        headers={"Message-ID": _message_id(message), "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(payload["html"], "text/html")
    connection = _connection()
    email.connection = connection
    try:
        connection.open()
    except smtplib.SMTPResponseException as exc:
        raise _smtp_code_error(exc.smtp_code, _reason(exc.smtp_error)) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise NotDeliveredError(f"cannot connect to the mail server: {exc}") from exc
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        raise _smtp_code_error(code, _reason(reason)) from exc
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused
        raise _smtp_code_error(exc.smtp_code, _reason(exc.smtp_error)) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise OutcomeUnknownError(f"mail server connection lost while sending: {exc}") from exc
    finally:
        try:
            connection.close()
        except (OSError, smtplib.SMTPException):
            pass  # the QUIT failing changes nothing about what was sent
    return _message_id(message)


def _reason(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
