"""G2 and G4: what reaches the log handlers configured in settings.LOGGING holds no link
token, delete code or password, and no raw line break or control character, in the message,
the traceback or the stack. The output read here is the real console handler's, with its
formatter and filters, its stream swapped for a buffer during the test."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from echoshare.core.logging import ScrubFilter, scrub
from echoshare.notify import sms
from echoshare.notify.errors import NotDeliveredError
from echoshare.notify.models import Message
from echoshare.notify.services import message_queue, message_send
from echoshare.notify.sms.base import SmsBackend
from tests.notify.conftest import DELETE_CODE, LINK, PASSWORD, booking_context, link_context

TOKEN = LINK.rsplit("/", 1)[1]
SECRETS = (LINK, TOKEN, DELETE_CODE, PASSWORD)
logger = logging.getLogger("echoshare.tests.logging_scrub")


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """The output of the console handler that settings.LOGGING put on the root logger."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and any(isinstance(f, ScrubFilter) for f in handler.filters)
    ]
    assert len(handlers) == 1, "settings.LOGGING's console handler is not on the root logger"
    handler = handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]


@pytest.fixture
def _messages(settings: Any) -> None:
    settings.CLINIC_SECRETS_KEY = "logging-tests-key"
    settings.SMS_BACKEND = "file"
    settings.SMS_FROM = "EchoUtrecht"
    settings.MESSAGE_TEMPLATES_DIR = ""
    settings.MESSAGE_MAX_ATTEMPTS = 4


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_every_configured_handler_has_the_scrub_filter() -> None:
    config: dict[str, Any] = django_settings.LOGGING
    assert config["filters"]["scrub"]["()"] == "echoshare.core.logging.ScrubFilter"
    for name, handler in config["handlers"].items():
        assert "scrub" in handler.get("filters", []), name
    # Loggers that do not propagate must still end at scrubbing handlers only.
    for name, logger_config in config["loggers"].items():
        for handler_name in logger_config.get("handlers", []):
            assert handler_name in config["handlers"], name


def test_control_characters_in_a_logged_value_are_escaped(console: io.StringIO) -> None:
    value = "MÜLLER\r\nFORGED line\u2028sep\u2029para\x85nel\x1b[31mred\x00nul\x9bcsi\tTab"
    logger.warning("patient name %s", value)
    output = console.getvalue()
    assert output.count("\n") == 1 and output.endswith("\n"), output
    line = output.rstrip("\n")
    for raw in ("\r", "\u2028", "\u2029", "\x85", "\x1b", "\x00", "\x9b"):
        assert raw not in line, repr(raw)
    assert (
        "MÜLLER\\r\\nFORGED line\\u2028sep\\u2029para\\x85nel\\x1b[31mred\\x00nul\\x9bcsi\tTab"
        in line
    )


def test_a_traceback_is_scrubbed_and_escaped(console: io.StringIO) -> None:
    try:
        raise ValueError(f"no route for /s/{TOKEN}/media/1\r\n2026-01-01 INFO forged\u2028x")
    except ValueError:
        logger.exception("request failed")
    output = console.getvalue()
    lines = output.splitlines()
    # The message, then the whole traceback on one line; nothing forged starts a line.
    assert len(lines) == 2, output
    assert lines[0].endswith("request failed")
    assert lines[1].startswith("Traceback (most recent call last):\\n")
    forged = "ValueError: no route for /s/[token]/media/1\\r\\n2026-01-01 INFO forged\\u2028x"
    assert forged in lines[1]
    assert TOKEN not in output


def test_the_scrubbed_record_carries_no_raw_exception_for_other_handlers() -> None:
    """A handler after the filter (another formatter, an error reporter) must not be able to
    format the raw exception again."""
    try:
        raise RuntimeError(f"/s/{TOKEN}/")
    except RuntimeError as exc:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, None)
        )
    assert ScrubFilter().filter(record)
    assert record.exc_info is None
    assert record.exc_text is not None and "/s/[token]/" in record.exc_text
    formatted = logging.Formatter("%(message)s").format(record)
    assert TOKEN not in formatted and "RuntimeError" in formatted
    # A second handler's filter leaves it as it is (the filter is idempotent).
    text = record.exc_text
    assert ScrubFilter().filter(record) and record.exc_text == text


def test_a_stack_is_scrubbed(console: io.StringIO) -> None:
    logger.warning("checkpoint", stack_info=True)
    output = console.getvalue()
    assert output.count("\n") == 2 and "Stack (most recent call last):\\n" in output


def test_a_broken_format_string_still_logs_the_record(console: io.StringIO) -> None:
    logger.warning("value %s and %s\r\n", "only-one")
    assert "value %s and %s\\r\\n" in console.getvalue()


def test_scrub_is_idempotent() -> None:
    value = f"/s/{TOKEN}/ a\r\nb\u2028c\x85d\\n"
    assert scrub(scrub(value)) == scrub(value)


class _EchoingBackend(SmsBackend):
    """A gateway library that puts the whole request, text included, in its error."""

    name = "file"
    dedupes = False
    error: type[Exception] = RuntimeError
    bodies: list[str] = []

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        self.bodies.append(body)
        raise self.error(f"gateway refused POST to={to} body={body!r} ref={reference}")


def _assert_secrets_were_in_the_sms() -> None:
    """So that a clean log means redaction, not a message without the secrets."""
    body = _EchoingBackend.bodies[-1]
    assert LINK in body and DELETE_CODE in body


@pytest.mark.django_db
@pytest.mark.usefixtures("_messages")
def test_an_sms_backend_error_echoing_the_text_leaves_no_secret_in_the_log(
    console: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sms.BACKENDS, "file", _EchoingBackend)
    message = _queue_link_sms()
    assert message_send(message=message).state == Message.State.UNKNOWN
    _assert_secrets_were_in_the_sms()
    output = console.getvalue()
    # The log does show what happened, and where the secrets were.
    assert "notify: unexpected error sending message" in output
    assert "RuntimeError: gateway refused POST" in output and "[redacted]" in output
    assert "Traceback (most recent call last):" in output
    _assert_no_secret(output)
    message.refresh_from_db()
    _assert_no_secret(message.last_error)


@pytest.mark.django_db
@pytest.mark.usefixtures("_messages")
def test_a_delivery_error_echoing_the_text_leaves_no_secret_in_the_log(
    console: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_EchoingBackend, "error", NotDeliveredError)
    monkeypatch.setitem(sms.BACKENDS, "file", _EchoingBackend)
    assert message_send(message=_queue_link_sms()).state == Message.State.FAILED
    _assert_secrets_were_in_the_sms()
    output = console.getvalue()
    assert "gateway refused POST" in output and "[redacted]" in output
    _assert_no_secret(output)


@pytest.mark.django_db
@pytest.mark.usefixtures("_messages")
def test_an_smtp_error_echoing_the_mail_leaves_no_password_in_the_log(
    console: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts: list[str] = []

    def deliver(*, message: Message, payload: dict[str, Any], clinic_name: str) -> str:
        texts.append(payload["text"])
        raise OSError(f"SMTP session broke while sending: {payload['text']}")

    monkeypatch.setattr("echoshare.notify.services.email_deliver", deliver)
    message = message_queue(
        kind="booking_confirmation",
        channel="email",
        recipient="patient@example.nl",
        language="en",
        context=booking_context(),
        patient_ref="PAT-LOG-2",
        idempotency_key="log-scrub:booking",
    )
    assert message_send(message=message).state == Message.State.UNKNOWN
    assert PASSWORD in texts[0]
    output = console.getvalue()
    assert "OSError: SMTP session broke while sending" in output
    _assert_no_secret(output)


def _queue_link_sms() -> Message:
    return message_queue(
        kind="share_link",
        channel="sms",
        recipient="+31612345678",
        language="en",
        context=link_context(),
        patient_ref="PAT-LOG-1",
        idempotency_key="log-scrub:link",
    )
