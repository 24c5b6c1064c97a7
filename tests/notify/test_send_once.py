"""Several senders racing for one message: the provider gets it once (real transactions)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from echoshare.notify.models import Message
from echoshare.notify.services import message_queue, message_send
from tests.notify.conftest import link_context
from tests.notify.gateways import FakeGateway, Reply


@pytest.mark.django_db(transaction=True)
def test_parallel_senders_deliver_a_message_exactly_once(http_gateway: FakeGateway) -> None:
    http_gateway.replies.append(Reply(delay=0.3))  # the winner is still talking to it
    message = message_queue(
        kind="share_link",
        channel="sms",
        recipient="+31612345678",
        language="en",
        context=link_context(),
        patient_ref="PAT-001",
        idempotency_key="share:1:sms",
    )
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def sender() -> None:
        try:
            start.wait()
            row = Message.objects.get(pk=message.pk)
            outcomes.append(message_send(message=row).state)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(http_gateway.received) == 1 and len(http_gateway.delivered) == 1
    message.refresh_from_db()
    assert message.state == Message.State.SENT and message.attempts == 1
    assert outcomes.count(Message.State.SENT) >= 1  # the losers report what they saw
