"""The outbox: queue once, send once, states, backoff, staff retry, sealed texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.notify.email import email_outbox_dir
from echoshare.notify.models import Message
from echoshare.notify.services import (
    MessageStateError,
    booking_reminder_at,
    expiry_reminder_at,
    message_cancel,
    message_mark_sent,
    message_queue,
    message_retry,
    message_send,
    message_texts_drop,
    messages_mark_stale,
    messages_send_due,
)
from echoshare.notify.sms.file import sms_outbox_dir
from tests.notify.conftest import DELETE_CODE, LINK, PASSWORD, booking_context, link_context

pytestmark = pytest.mark.django_db
PHONE = "+31612345678"
State = Message.State


def queue_link_sms(key: str = "share:1:sms", **kwargs: Any) -> Message:
    return message_queue(
        kind="share_link",
        channel="sms",
        recipient=kwargs.pop("recipient", PHONE),
        language="nl",
        context=link_context(),
        patient_ref="PAT-001",
        idempotency_key=key,
        **kwargs,
    )


def sms_files() -> list[Path]:
    folder = sms_outbox_dir()
    return sorted(folder.glob("*.txt")) if folder.exists() else []


@pytest.fixture
def staff() -> Any:
    return get_user_model().objects.create_user("assistent")  # no password: no argon2 cost


def test_it_stores_message_texts_only_encrypted() -> None:
    queue_link_sms()
    message_queue(
        kind="booking_confirmation",
        channel="email",
        recipient="patient@example.nl",
        language="en",
        context=booking_context(),
        patient_ref="PAT-001",
        idempotency_key="appointment:1:confirmation",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM notify_message")
        dump = repr(cursor.fetchall())
    for secret in (LINK, LINK.rsplit("/", 1)[1], DELETE_CODE, PASSWORD):
        assert secret not in dump
    assert "PAT-001" in dump and PHONE in dump  # what staff need stays readable


def test_queueing_twice_with_one_key_keeps_one_message_and_one_job(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        first = queue_link_sms()
        second = queue_link_sms()
    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert len(callbacks) == 1


def test_a_key_reused_for_another_kind_is_refused() -> None:
    queue_link_sms(key="k")
    with pytest.raises(ValueError, match="already used"):
        message_queue(
            kind="expiry_reminder",
            channel="sms",
            recipient=PHONE,
            language="nl",
            context=link_context(),
            patient_ref="PAT-001",
            idempotency_key="k",
        )


@pytest.mark.parametrize(
    ("channel", "recipient", "error"),
    [
        ("sms", "0612345678", "E.164"),
        ("sms", "+3161234", "valid phone"),
        ("email", "patient-at-example.nl", "e-mail"),
    ],
)
def test_it_refuses_a_recipient_it_cannot_reach(channel: str, recipient: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        message_queue(
            kind="share_link",
            channel=channel,
            recipient=recipient,
            language="nl",
            context=link_context(),
            patient_ref="PAT-001",
            idempotency_key="x",
        )
    assert not Message.objects.exists()


def test_it_normalizes_phone_numbers_to_e164() -> None:
    assert queue_link_sms(recipient="+31 6 1234 5678").recipient == PHONE


def test_sending_writes_the_sms_and_records_it_once() -> None:
    message = queue_link_sms()
    message_send(message=message)
    assert message.state == State.SENT and message.attempts == 1
    assert message.provider == "file" and message.sent_at is not None
    [written] = sms_files()
    assert message.provider_message_id == written.name
    assert f"To: {PHONE}" in written.read_text() and LINK in written.read_text()
    message_send(message=message)  # a second job for the same message
    assert message.attempts == 1 and len(sms_files()) == 1


def test_a_message_another_sender_holds_is_left_alone() -> None:
    message = queue_link_sms()
    Message.objects.filter(pk=message.pk).update(state=State.SENDING)
    message_send(message=message)
    assert message.state == State.SENDING and message.attempts == 0
    assert sms_files() == []


def test_the_link_message_is_audited_once_when_sent() -> None:
    message = message_send(message=queue_link_sms())
    [record] = AuditRecord.objects.filter(event=events.LINK_SENT)
    assert record.patient_ref == "PAT-001" and record.outcome == "success"
    assert message.reference.hex in record.object_ref
    for secret in (LINK, DELETE_CODE):
        assert secret not in record.detail


def test_booking_mail_goes_out_with_text_and_html(mailoutbox: list[Any]) -> None:
    message = message_queue(
        kind="booking_reminder",
        channel="email",
        recipient="patient@example.nl",
        language="nl",
        context=booking_context(),
        patient_ref="PAT-001",
        idempotency_key="appointment:1:reminder",
    )
    message_send(message=message)
    assert message.state == State.SENT
    [mail] = mailoutbox
    assert mail.to == ["patient@example.nl"]
    assert mail.from_email == "Verloskundigenpraktijk Utrecht <noreply@clinic.example.nl>"
    assert PASSWORD in mail.body and mail.alternatives[0][1] == "text/html"
    assert not AuditRecord.objects.filter(event=events.LINK_SENT).exists()


def test_a_worker_that_died_mid_send_leaves_the_message_unknown_not_resent(
    staff: Any,
) -> None:
    message = queue_link_sms()
    start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        # The claim happened, then the process was killed before the outcome was written.
        Message.objects.filter(pk=message.pk).update(
            state=State.SENDING, sending_since=start, attempts=1
        )
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert messages_mark_stale() == 0  # still within ECHOSHARE_MESSAGE_SENDING_STALE_SECONDS
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        assert messages_mark_stale() == 1
        assert messages_send_due() == 0
    message.refresh_from_db()
    assert message.state == State.UNKNOWN and "check whether it arrived" in message.last_error
    assert sms_files() == []
    # Staff checked with the provider: it never arrived. Retry sends it.
    message_retry(message=message, user=staff)
    assert message.state == State.QUEUED and message.retried_by == staff
    message_send(message=message)
    assert message.state == State.SENT and len(sms_files()) == 1
    record = AuditRecord.objects.get(event=events.LINK_SENT)
    assert record.responsible_username == "assistent"


def test_staff_can_mark_an_unknown_message_sent(staff: Any) -> None:
    message = queue_link_sms()
    Message.objects.filter(pk=message.pk).update(state=State.UNKNOWN)
    message_mark_sent(message=message, user=staff)
    assert message.state == State.SENT and message.sent_at is not None
    assert AuditRecord.objects.get(event=events.LINK_SENT).username == "assistent"
    with pytest.raises(MessageStateError, match="unknown"):
        message_mark_sent(message=message, user=staff)


def test_staff_cannot_retry_a_sent_message(staff: Any) -> None:
    message = message_send(message=queue_link_sms())
    with pytest.raises(MessageStateError, match="sent message cannot be retried"):
        message_retry(message=message, user=staff)


def test_a_message_sealed_under_a_removed_key_gives_up_visibly(settings: Any) -> None:
    message = queue_link_sms()
    settings.CLINIC_SECRETS_KEY = "a-new-key"
    message_send(message=message)
    assert message.state == State.GAVE_UP and "ECHOSHARE_CLINIC_SECRETS_KEY" in message.last_error


def test_a_rotated_key_still_opens_what_the_old_key_sealed(settings: Any) -> None:
    message = queue_link_sms()
    settings.CLINIC_SECRETS_KEY = "a-new-key, notify-tests-key"
    assert message_send(message=message).state == State.SENT


def test_texts_are_dropped_after_the_retention_period(settings: Any, staff: Any) -> None:
    settings.MESSAGE_TEXT_RETENTION_DAYS = 14
    start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        sent = message_send(message=queue_link_sms(key="a"))
        waiting = queue_link_sms(key="b", send_after=start + timedelta(days=30))
    with time_machine.travel(start + timedelta(days=13), tick=False):
        assert message_texts_drop() == 0
    with time_machine.travel(start + timedelta(days=15), tick=False):
        assert message_texts_drop(dry_run=True) == 1
        assert message_texts_drop() == 1
        assert message_texts_drop() == 0
    sent.refresh_from_db()
    waiting.refresh_from_db()
    assert sent.sealed_text == "" and sent.text_dropped_at is not None
    assert waiting.sealed_text != ""  # not yet sent: kept
    Message.objects.filter(pk=sent.pk).update(state=State.GAVE_UP)
    sent.refresh_from_db()
    with pytest.raises(MessageStateError, match="retention"):
        message_retry(message=sent, user=staff)


def test_a_deferred_reminder_waits_and_can_be_cancelled() -> None:
    start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        kept = queue_link_sms(key="keep", send_after=start + timedelta(hours=20))
        dropped = queue_link_sms(key="drop", send_after=start + timedelta(hours=20))
        assert messages_send_due() == 0
        assert message_cancel(idempotency_key="drop") is True
    with time_machine.travel(start + timedelta(hours=21), tick=False):
        assert messages_send_due() == 1
        assert message_cancel(idempotency_key="keep") is False  # already out
    kept.refresh_from_db()
    dropped.refresh_from_db()
    assert kept.state == State.SENT and dropped.state == State.CANCELLED
    assert len(sms_files()) == 1


def test_reminder_times_follow_the_settings(settings: Any) -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    appointment = now + timedelta(days=3)
    assert booking_reminder_at(appointment, now=now) == appointment - timedelta(hours=24)
    assert booking_reminder_at(now + timedelta(hours=5), now=now) is None  # already past
    settings.BOOKING_REMINDER_HOURS = 0
    assert booking_reminder_at(appointment, now=now) is None
    expiry = now + timedelta(days=60)
    assert expiry_reminder_at(expiry, now=now) == expiry - timedelta(days=7)
    settings.EXPIRY_REMINDER_DAYS = 0
    assert expiry_reminder_at(expiry, now=now) is None


def test_the_demo_file_backends_write_into_the_data_folder(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = ""
    message = message_queue(
        kind="booking_confirmation",
        channel="email",
        recipient="patient@example.nl",
        language="nl",
        context=booking_context(),
        patient_ref="PAT-001",
        idempotency_key="appointment:1:confirmation",
    )
    assert message_send(message=message).state == State.SENT
    assert email_outbox_dir() == settings.DATA_DIR / "outbox" / "email"
    [written] = email_outbox_dir().glob("*.log")
    assert "patient@example.nl" in written.read_text()
    message_send(message=queue_link_sms())
    assert [path.parent for path in sms_files()] == [settings.DATA_DIR / "outbox" / "sms"]
