"""Background jobs of the outbox. Delivery failures are handled by the outbox itself
(states, backoff), so these tasks never raise for them: the job queue must not retry a send
on its own, that could send a message twice."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from echoshare.jobs.periodic import periodic
from echoshare.notify.models import Message
from echoshare.notify.services import (
    message_send,
    message_texts_drop,
    messages_mark_stale,
    messages_send_due,
)


@task()
def send_message(*, message_id: int) -> str:
    """Send one message (enqueued after the commit that queued it, or at its retry time)."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "missing"
    return message_send(message=message).state


@periodic(name="notify.retry_due", every=timedelta(minutes=1))
@task()
def retry_due() -> int:
    """The safety net: due messages whose job was lost, and senders that died mid-send."""
    messages_mark_stale()
    return messages_send_due()


@periodic(name="notify.drop_texts", every=timedelta(hours=1))
@task()
def drop_texts() -> int:
    return message_texts_drop()
