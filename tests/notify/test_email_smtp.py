"""E-mail through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from typing import Any

import pytest

from echoshare.notify.models import Message
from echoshare.notify.services import message_queue, message_send
from tests.notify.conftest import (
    CLINIC,
    DELETE_CODE,
    LINK,
    PASSWORD,
    SmtpServer,
    booking_context,
    link_context,
)

pytestmark = pytest.mark.django_db
State = Message.State


def send(kind: str, recipient: str, language: str, context: dict[str, Any], key: str) -> Message:
    message = message_queue(
        kind=kind,
        channel="email",
        recipient=recipient,
        language=language,
        context=context,
        patient_ref="PAT-001",
        idempotency_key=key,
    )
    return message_send(message=message)


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize(
    ("kind", "context", "carries", "never"),
    [
        ("booking_confirmation", booking_context(), [PASSWORD], [LINK, DELETE_CODE]),
        ("booking_reminder", booking_context(), [PASSWORD], [LINK, DELETE_CODE]),
        ("share_link", link_context(), [LINK, DELETE_CODE], [PASSWORD]),
    ],
)
def test_each_mail_arrives_with_headers_text_html_and_only_its_secrets(
    smtp_server: SmtpServer,
    kind: str,
    context: dict[str, Any],
    carries: list[str],
    never: list[str],
    language: str,
) -> None:
    message = send(kind, "patient@example.nl", language, context, f"{kind}:{language}")
    assert message.state == State.SENT
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "noreply@clinic.example.nl"
    assert envelope.rcpt_tos == ["patient@example.nl"]
    [mail] = smtp_server.messages()
    assert mail["From"].addresses[0].display_name == CLINIC
    assert mail["To"] == "patient@example.nl"
    assert mail["Message-ID"] == message.provider_message_id
    assert mail["Message-ID"] == f"<{message.reference.hex}@clinic.example.nl>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'lang="{language}"' in html
    assert ("Beste," in text) == (language == "nl") and ("Hello," in text) == (language == "en")
    for secret in carries:
        assert secret in text and secret in html
    for secret in never:
        assert secret not in text and secret not in html
        assert secret not in str(mail["Subject"])
    assert PASSWORD not in str(mail["Subject"])


def test_two_patients_each_get_only_their_own_mail(smtp_server: SmtpServer) -> None:
    send("share_link", "anna@example.nl", "nl", link_context(), "share:1")
    other_link = "https://portal.example.nl/s/ZZZZZZZZZZZZZZZZZZZZZZ"
    send(
        "share_link",
        "bea@example.org",
        "en",
        link_context(link=other_link, delete_code="W9RT"),
        "share:2",
    )
    first, second = smtp_server.messages()
    assert [e.rcpt_tos for e in smtp_server.envelopes] == [["anna@example.nl"], ["bea@example.org"]]
    first_text, second_text = first.as_string(), second.as_string()
    assert LINK in first_text and other_link not in first_text and "W9RT" not in first_text
    assert "bea@example.org" not in first_text
    assert other_link in second_text and LINK not in second_text and DELETE_CODE not in second_text
    assert "anna@example.nl" not in second_text


def test_a_refused_mailbox_gives_up_with_the_server_reply(smtp_server: SmtpServer) -> None:
    message = send("share_link", "refuse@example.nl", "nl", link_context(), "k")
    assert message.state == State.GAVE_UP
    assert message.last_error.startswith("SMTP 550: 5.1.1 mailbox unavailable")
    assert smtp_server.envelopes == []


def test_a_temporary_refusal_is_retried(smtp_server: SmtpServer) -> None:
    message = send("share_link", "later@example.nl", "nl", link_context(), "k")
    assert message.state == State.FAILED and message.last_error.startswith("SMTP 451")
    assert message.next_attempt_at is not None


def test_a_mail_server_that_is_down_is_retried(smtp_server: SmtpServer, settings: Any) -> None:
    settings.EMAIL_PORT = 9  # nothing listens
    message = send("booking_confirmation", "patient@example.nl", "en", booking_context(), "k")
    assert message.state == State.FAILED and "cannot connect" in message.last_error
