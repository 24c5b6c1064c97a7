"""SMS through Twilio, MessageBird and the generic HTTP gateway, against local servers that
check each provider's documented request format, auth and error answers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import time_machine

from echoshare.notify.models import Message
from echoshare.notify.services import message_queue, message_send, messages_send_due
from tests.notify.conftest import DELETE_CODE, LINK, link_context
from tests.notify.gateways import TWILIO_SID, TWILIO_TOKEN, FakeGateway, Reply

pytestmark = pytest.mark.django_db
PHONE = "+31612345678"
State = Message.State
START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def queue(key: str = "share:1:sms", language: str = "nl") -> Message:
    return message_queue(
        kind="share_link",
        channel="sms",
        recipient=PHONE,
        language=language,
        context=link_context(),
        patient_ref="PAT-001",
        idempotency_key=key,
    )


# --- what each provider receives ------------------------------------------------------------
def test_twilio_gets_a_form_post_with_basic_auth_and_answers_a_sid(twilio: FakeGateway) -> None:
    message = message_send(message=queue())
    assert message.state == State.SENT
    [request] = twilio.received
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    credentials = base64.b64decode(request.headers["authorization"].split()[1]).decode()
    assert credentials == f"{TWILIO_SID}:{TWILIO_TOKEN}"
    form = parse_qs(request.body.decode())
    assert form["To"] == [PHONE] and form["From"] == ["EchoUtrecht"]
    assert LINK in form["Body"][0] and form["Body"][0].endswith(DELETE_CODE)
    assert message.provider == "twilio" and message.provider_message_id.startswith("SM")


def test_twilio_can_send_through_a_messaging_service(twilio: FakeGateway, settings: Any) -> None:
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "f" * 32
    assert message_send(message=queue()).state == State.SENT
    form = twilio.received[0].fields
    assert form["MessagingServiceSid"] == "MG" + "f" * 32 and "From" not in form


def test_messagebird_gets_json_with_access_key_msisdn_and_reference(
    messagebird: FakeGateway,
) -> None:
    message = message_send(message=queue(language="en"))
    assert message.state == State.SENT
    [request] = messagebird.received
    assert request.path == "/messages"
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.body)
    assert body["recipients"] == ["31612345678"] and body["originator"] == "EchoUtrecht"
    assert body["reference"] == message.reference.hex and body["datacoding"] == "auto"
    assert "Delete code" in body["body"]
    assert len(message.provider_message_id) == 32


def test_the_http_gateway_gets_bearer_auth_and_an_idempotency_key(
    http_gateway: FakeGateway,
) -> None:
    message = message_send(message=queue())
    assert message.state == State.SENT
    [request] = http_gateway.received
    assert request.headers["authorization"] == "Bearer bearer-token-for-tests"
    assert request.headers["idempotency-key"] == message.reference.hex
    assert set(request.fields) == {"to", "from", "body", "reference"}


# --- refusals: given up at once, visible, no secrets in the error ---------------------------
def test_a_bad_number_refused_by_twilio_gives_up_with_its_reason(twilio: FakeGateway) -> None:
    twilio.replies.append(
        Reply(400, {"code": 21211, "message": "The 'To' number is not a valid phone number."})
    )
    message = message_send(message=queue())
    assert message.state == State.GAVE_UP and message.next_attempt_at is None
    assert message.last_error == (
        "twilio: HTTP 400: code 21211: The 'To' number is not a valid phone number."
    )
    assert len(twilio.received) == 1


def test_wrong_credentials_give_up_with_the_providers_error(
    messagebird: FakeGateway, settings: Any
) -> None:
    settings.MESSAGEBIRD_ACCESS_KEY = "wrong"
    message = message_send(message=queue())
    assert message.state == State.GAVE_UP
    assert "HTTP 401: code 2: Request not allowed (incorrect access_key) (access_key)" in (
        message.last_error
    )


def test_an_error_echoing_the_text_is_stored_without_link_or_code(
    http_gateway: FakeGateway,
) -> None:
    encoded = LINK.replace(":", "%3A").replace("/", "%2F")
    http_gateway.replies.append(Reply(422, {"message": f"cannot send '{encoded} {DELETE_CODE}'"}))
    message = message_send(message=queue())
    assert message.state == State.GAVE_UP
    token = LINK.rsplit("/", 1)[1]
    assert token not in message.last_error and DELETE_CODE not in message.last_error
    assert message.last_error.count("[redacted]") == 2


# --- outages: retried with backoff, then given up ------------------------------------------
def test_server_errors_are_retried_with_growing_delays_then_given_up(twilio: FakeGateway) -> None:
    twilio.replies.extend(
        Reply(503, {"code": 20500, "message": "Service unavailable"}) for _ in range(4)
    )
    message = queue()
    delays = []
    now = START
    for _ in range(3):
        with time_machine.travel(now, tick=False):
            message_send(message=message)
        assert message.state == State.FAILED and "HTTP 503" in message.last_error
        assert message.next_attempt_at is not None
        delays.append(message.next_attempt_at - now)
        with time_machine.travel(message.next_attempt_at - timedelta(seconds=1), tick=False):
            assert messages_send_due() == 0  # not before its time
        now = message.next_attempt_at
    assert delays == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    with time_machine.travel(now, tick=False):
        messages_send_due()
    message.refresh_from_db()
    assert message.state == State.GAVE_UP and message.attempts == 4  # MESSAGE_MAX_ATTEMPTS
    assert twilio.delivered == []


def test_a_retry_after_an_outage_delivers_exactly_once(messagebird: FakeGateway) -> None:
    messagebird.replies.append(Reply(500, {"errors": [{"code": 99, "description": "internal"}]}))
    message = queue()
    with time_machine.travel(START, tick=False):
        message_send(message=message)
    assert message.state == State.FAILED
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        assert messages_send_due() == 1
        assert messages_send_due() == 0
    assert len(messagebird.delivered) == 1


def test_too_many_requests_waits_at_least_retry_after(twilio: FakeGateway) -> None:
    twilio.replies.append(
        Reply(429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "600"})
    )
    with time_machine.travel(START, tick=False):
        message = message_send(message=queue())
    assert message.state == State.FAILED
    assert message.next_attempt_at == START + timedelta(seconds=600)


def test_a_gateway_that_is_down_is_retried(settings: Any) -> None:
    settings.SMS_BACKEND = "http"
    settings.SMS_HTTP_URL = "http://127.0.0.1:9/sms"  # discard port: nothing listens
    message = message_send(message=queue())
    assert message.state == State.FAILED and "cannot connect" in message.last_error


def test_a_timeout_at_twilio_is_unknown_because_it_may_have_gone_out(
    twilio: FakeGateway, settings: Any
) -> None:
    settings.SMS_TIMEOUT_SECONDS = 0.5
    twilio.replies.append(Reply(delay=3.0))
    message = message_send(message=queue())
    assert message.state == State.UNKNOWN
    assert "no answer within 0.5 s" in message.last_error
    assert messages_send_due() == 0  # never re-sent on its own


def test_a_timeout_at_a_deduplicating_gateway_is_retried_and_delivered_once(
    http_gateway: FakeGateway, settings: Any
) -> None:
    settings.SMS_TIMEOUT_SECONDS = 0.5
    http_gateway.replies.append(Reply(delay=2.0))
    message = queue()
    with time_machine.travel(START, tick=False):
        message_send(message=message)
    assert message.state == State.FAILED and "no answer" in message.last_error
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        assert messages_send_due() == 1
    # The gateway got it twice (the first answer was lost) but delivered it once.
    assert len(http_gateway.received) == 2 and len(http_gateway.delivered) == 1
    message.refresh_from_db()
    assert message.state == State.SENT
