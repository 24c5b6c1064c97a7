"""Fixtures for the messages tests: sample contexts, a real SMTP server on loopback
(aiosmtpd) and local fake SMS gateways."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.notify import gateways

CLINIC = "Verloskundigenpraktijk Utrecht"  # 30 characters, as long as the brief asks
LINK = "https://portal.example.nl/s/AbCdEfGhIjKlMnOpQrStUv"
DELETE_CODE = "K7QX"
PASSWORD = "Xy7kPq3m"


@pytest.fixture(autouse=True)
def _messages_settings(settings: Any) -> None:
    settings.CLINIC_SECRETS_KEY = "notify-tests-key"
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_DIR = ""
    settings.SMS_FROM = "EchoUtrecht"
    settings.MESSAGE_TEMPLATES_DIR = ""
    settings.MESSAGE_MAX_ATTEMPTS = 4
    settings.MESSAGE_RETRY_BASE_SECONDS = 60
    settings.MESSAGE_RETRY_MAX_SECONDS = 3600
    settings.DEFAULT_FROM_EMAIL = "Echoshare <noreply@clinic.example.nl>"
    # Generous: the machine may be loaded; the timeout tests set a short one themselves.
    settings.SMS_TIMEOUT_SECONDS = 10


def link_context(**overrides: Any) -> dict[str, Any]:
    return {
        "clinic_name": CLINIC,
        "link": LINK,
        "delete_code": DELETE_CODE,
        "expires_on": date(2027, 1, 26),
        **overrides,
    }


def booking_context(**overrides: Any) -> dict[str, Any]:
    return {
        "clinic_name": CLINIC,
        "appointment_at": datetime(2026, 12, 3, 13, 30, tzinfo=UTC),  # 14:30 in Amsterdam
        "password": PASSWORD,
        "clinic_phone": "030 123 45 67",
        **overrides,
    }


# --- SMTP ---------------------------------------------------------------------------------
@dataclass
class SmtpServer:
    port: int
    envelopes: list[Any] = field(default_factory=list)

    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[misc]
            for envelope in self.envelopes
        ]


class _CollectingHandler:
    """Accepts mail, except to addresses that ask for a refusal in their local part."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port())
    controller = Controller(_CollectingHandler(server), hostname="127.0.0.1", port=server.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        controller.stop()


# --- SMS gateways ---------------------------------------------------------------------------
@pytest.fixture
def twilio(settings: Any) -> Iterator[gateways.FakeGateway]:
    gateway = gateways.FakeGateway("twilio").start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_BASE_URL = gateway.base_url
    settings.TWILIO_ACCOUNT_SID = gateways.TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = gateways.TWILIO_TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    yield gateway
    gateway.stop()


@pytest.fixture
def messagebird(settings: Any) -> Iterator[gateways.FakeGateway]:
    gateway = gateways.FakeGateway("messagebird").start()
    settings.SMS_BACKEND = "messagebird"
    settings.MESSAGEBIRD_BASE_URL = gateway.base_url
    settings.MESSAGEBIRD_ACCESS_KEY = gateways.MESSAGEBIRD_KEY
    yield gateway
    gateway.stop()


@pytest.fixture
def http_gateway(settings: Any) -> Iterator[gateways.FakeGateway]:
    gateway = gateways.FakeGateway("http").start()
    settings.SMS_BACKEND = "http"
    settings.SMS_HTTP_URL = f"{gateway.base_url}/sms"
    settings.SMS_HTTP_TOKEN = gateways.HTTP_TOKEN
    yield gateway
    gateway.stop()
