"""The outbox's actions: queue a message, send it (the job), let staff retry it.

Send-once: `message_send` claims a row with one conditional UPDATE (queued/failed ->
sending) before it calls the provider, so two workers can never both send it. If the worker
dies while the row is "sending", the provider may or may not have the message: such rows
become "unknown" (`messages_mark_stale`) and are never re-sent automatically, except through
backends whose provider drops a repeated reference (the generic HTTP gateway, the file
outbox). That is at-most-once delivery, with the doubtful cases shown to staff.
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.notify.email import PROVIDER as EMAIL_PROVIDER
from echoshare.notify.email import email_deliver
from echoshare.notify.errors import (
    DeliveryError,
    NotDeliveredError,
    OutcomeUnknownError,
    RejectedError,
)
from echoshare.notify.models import Message
from echoshare.notify.rendering import SECRET_KEYS, message_render
from echoshare.notify.sealing import SealBrokenError, seal, unseal
from echoshare.notify.sms import sms_backend

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

State = Message.State
ERROR_MAX_CHARS = 500


class MessageStateError(Exception):
    """The message is not in a state that allows this action."""


def _normalized_recipient(channel: str, recipient: str) -> str:
    recipient = recipient.strip()
    if channel == Message.Channel.EMAIL:
        try:
            validate_email(recipient)
        except ValidationError as exc:
            raise ValueError("recipient is not a valid e-mail address") from exc
        return recipient
    try:
        number = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("recipient is not a phone number in E.164 form (+31...)") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("recipient is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _enqueue_after_commit(message_id: int, run_after: datetime | None = None) -> None:
    from echoshare.notify.tasks import send_message  # tasks imports services

    def enqueue() -> None:
        task = send_message.using(run_after=run_after) if run_after else send_message
        try:
            task.enqueue(message_id=message_id)
        except Exception:  # the periodic sweep sends it anyway; never lose the commit
            logger.exception("notify: could not enqueue message %s; the sweep will", message_id)

    transaction.on_commit(enqueue)


def message_queue(
    *,
    kind: str,
    channel: str,
    recipient: str,
    language: str,
    context: dict[str, Any],
    patient_ref: str,
    idempotency_key: str,
    send_after: datetime | None = None,
) -> Message:
    """Render the message, store it sealed and have it sent after commit.

    Idempotent on `idempotency_key`: a second call with the same key returns the first row
    and queues nothing. `send_after` defers it (a reminder); `message_cancel` withdraws it.
    Raises ValueError for a bad recipient, kind, language, context or a too-long SMS.
    """
    existing = Message.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_or_conflict(existing, kind=kind, channel=channel)
    rendered = message_render(kind=kind, channel=channel, language=language, context=context)
    payload = {
        "text": rendered.text,
        "html": rendered.html,
        "from_name": str(context["clinic_name"]),
        "secrets": _secrets(context),
    }
    now = timezone.now()
    message = Message(
        kind=kind,
        channel=channel,
        recipient=_normalized_recipient(channel, recipient),
        language=language,
        subject=rendered.subject,
        sealed_text=seal(payload),
        idempotency_key=idempotency_key,
        patient_ref=patient_ref,
        next_attempt_at=max(send_after, now) if send_after else now,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:  # a parallel call with the same key won the insert
        existing = Message.objects.get(idempotency_key=idempotency_key)
        return _same_or_conflict(existing, kind=kind, channel=channel)
    _enqueue_after_commit(message.pk, send_after if send_after and send_after > now else None)
    return message


def _secrets(context: dict[str, Any]) -> list[str]:
    """The values to keep out of error texts: link, delete code, password, and the link's
    token on its own (a provider may echo the text URL-encoded)."""
    secrets = [str(context[key]) for key in SECRET_KEYS if context.get(key)]
    token = str(context.get("link") or "").rstrip("/").rsplit("/", 1)[-1]
    if len(token) >= 16:
        secrets.append(token)
    return secrets


def _same_or_conflict(existing: Message, *, kind: str, channel: str) -> Message:
    if existing.kind != kind or existing.channel != channel:
        raise ValueError(
            f"idempotency key already used for a {existing.kind} {existing.channel} message"
        )
    return existing


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff: base, 2x base, 4x base ... capped; at least what 429 asked."""
    seconds = settings.MESSAGE_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    if retry_after is not None:
        seconds = max(seconds, retry_after)
    return timedelta(seconds=min(seconds, settings.MESSAGE_RETRY_MAX_SECONDS))


def _claim(message: Message) -> bool:
    """queued/failed -> sending, in one UPDATE: only one worker can win a message."""
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message.pk, state__in=Message.SENDABLE, next_attempt_at__lte=now
    ).update(state=State.SENDING, sending_since=now, attempts=F("attempts") + 1, updated_at=now)
    message.refresh_from_db()
    return claimed == 1


def _hidden(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _redacted(text: str, secrets: list[str]) -> str:
    return _hidden(text, secrets)[:ERROR_MAX_CHARS]


def _traceback_redacted(exc: BaseException, secrets: list[str]) -> str:
    """The whole traceback, chained exceptions included, without the message's secrets."""
    return _hidden("".join(traceback.format_exception(exc)), secrets)


def _deliver(message: Message, payload: dict[str, Any]) -> tuple[str, str]:
    """(provider, provider message id), or a DeliveryError."""
    if message.channel == Message.Channel.EMAIL:
        message_id = email_deliver(
            message=message, payload=payload, clinic_name=payload.get("from_name", "")
        )
        return EMAIL_PROVIDER, message_id
    backend = sms_backend()
    try:
        provider_id = backend.send(
            to=message.recipient,
            sender=settings.SMS_FROM,
            body=payload["text"],
            reference=message.reference.hex,
        )
    except OutcomeUnknownError as exc:
        if backend.dedupes:  # the provider drops the copy: sending again is safe
            raise NotDeliveredError(str(exc)) from exc
        raise
    return backend.name, provider_id


def message_send(*, message: Message) -> Message:
    """Send one message if it is due and not taken; record the outcome. Never raises for a
    delivery failure. Call it outside a transaction, so the claim is committed first."""
    if not _claim(message):
        return message
    try:
        payload = unseal(message.sealed_text)
    except SealBrokenError as exc:
        return _finish(message, State.GAVE_UP, error=str(exc))
    secrets = list(payload.get("secrets", []))
    provider = EMAIL_PROVIDER if message.channel == Message.Channel.EMAIL else settings.SMS_BACKEND
    try:
        provider, provider_id = _deliver(message, payload)
    except RejectedError as exc:
        return _finish(
            message, State.GAVE_UP, error=_redacted(str(exc), secrets), provider=provider
        )
    except NotDeliveredError as exc:
        error = _redacted(str(exc), secrets)
        if message.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
            return _finish(message, State.GAVE_UP, error=error, provider=provider)
        delay = retry_delay(message.attempts, exc.retry_after)
        return _finish(message, State.FAILED, error=error, provider=provider, delay=delay)
    except DeliveryError as exc:  # OutcomeUnknownError: it may have gone out
        return _finish(
            message, State.UNKNOWN, error=_redacted(str(exc), secrets), provider=provider
        )
    except Exception as exc:
        # A bug of ours, or a library's, after the claim: we cannot tell whether it went out.
        # The exception may echo the text (link, delete code, password), so the traceback is
        # logged redacted as text, never as exc_info a handler would format raw (G2).
        logger.error(
            "notify: unexpected error sending message %s: %s",
            message.pk,
            _traceback_redacted(exc, secrets),
        )
        error = _redacted(f"unexpected error: {type(exc).__name__}: {exc}", secrets)
        return _finish(message, State.UNKNOWN, error=error, provider=provider)
    return _finish(message, State.SENT, provider=provider, provider_message_id=provider_id)


def _finish(
    message: Message,
    state: str,
    *,
    error: str = "",
    provider: str = "",
    provider_message_id: str = "",
    delay: timedelta | None = None,
) -> Message:
    now = timezone.now()
    changes: dict[str, Any] = {"state": state, "updated_at": now, "sending_since": None}
    if provider:
        changes["provider"] = provider
    if state == State.SENT:
        changes.update(sent_at=now, finished_at=now, provider_message_id=provider_message_id)
    else:
        changes["last_error"] = error
    if state == State.GAVE_UP:
        changes["finished_at"] = now
    changes["next_attempt_at"] = now + delay if delay is not None else None
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, state=State.SENDING).update(**changes)
        if updated:
            _audit_outcome(message, state, error)
            if delay is not None:
                _enqueue_after_commit(message.pk, changes["next_attempt_at"])
    message.refresh_from_db()
    log = logger.info if state == State.SENT else logger.warning
    log("notify: message %s %s -> %s %s", message.pk, message.kind, message.state, error)
    return message


def _audit_outcome(message: Message, state: str, error: str) -> None:
    """The link message is an audited disclosure (G1); booking mails are not."""
    if message.kind != Message.Kind.SHARE_LINK or state not in (
        State.SENT,
        State.GAVE_UP,
        State.UNKNOWN,
    ):
        return
    sent = state == State.SENT
    audit_record(
        event=events.LINK_SENT if sent else events.LINK_SEND_FAILED,
        outcome=events.SUCCESS if sent else events.FAILURE,
        responsible_user=message.retried_by,
        patient_ref=message.patient_ref,
        object_ref=f"message:{message.reference.hex}",
        detail=f"{message.channel} to {message.recipient}: {state} {error}".strip(),
        source="worker",
    )


def message_retry(*, message: Message, user: AbstractBaseUser) -> Message:
    """Staff send a failed, given-up or unknown message again (same reference, so providers
    that dedupe still can). Raises MessageStateError when it cannot be retried."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if not locked.can_be_retried:
            raise MessageStateError(_why_not_retryable(locked))
        now = timezone.now()
        locked.state = State.QUEUED
        locked.attempts = 0
        locked.next_attempt_at = now
        locked.finished_at = None
        locked.retried_by = user  # type: ignore[assignment]
        locked.retried_at = now
        locked.save()
        _enqueue_after_commit(locked.pk)
    message.refresh_from_db()
    return message


def _why_not_retryable(message: Message) -> str:
    if message.state in Message.STAFF_RETRYABLE:
        return "the message text was removed after the retention period; queue a new message"
    return f"a {message.state} message cannot be retried"  # the value: this text is English


def message_mark_sent(*, message: Message, user: AbstractBaseUser) -> Message:
    """Staff checked with the provider that an "unknown" message did go out."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.state != State.UNKNOWN:
            raise MessageStateError("only a message whose outcome is unknown can be marked sent")
        now = timezone.now()
        Message.objects.filter(pk=locked.pk).update(
            state=State.SENT, sent_at=now, finished_at=now, updated_at=now
        )
        if locked.kind == Message.Kind.SHARE_LINK:
            audit_record(
                event=events.LINK_SENT,
                user=user,  # type: ignore[arg-type]
                patient_ref=locked.patient_ref,
                object_ref=f"message:{locked.reference.hex}",
                detail=f"{locked.channel}: marked sent by staff after checking the provider",
                source="web",
            )
    message.refresh_from_db()
    return message


def message_cancel(*, idempotency_key: str) -> bool:
    """Withdraw a message that has not gone out (a reminder for a cancelled appointment).
    True when it was cancelled; False when there is none or it is already out."""
    now = timezone.now()
    return bool(
        Message.objects.filter(idempotency_key=idempotency_key, state__in=Message.SENDABLE).update(
            state=State.CANCELLED, finished_at=now, next_attempt_at=None, updated_at=now
        )
    )


def messages_mark_stale(*, now: datetime | None = None) -> int:
    """Rows left "sending" by a worker that died become "unknown" for staff to check."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MESSAGE_SENDING_STALE_SECONDS)
    return Message.objects.filter(state=State.SENDING, sending_since__lt=cutoff).update(
        state=State.UNKNOWN,
        sending_since=None,
        updated_at=now,
        last_error="the sender stopped while the provider had the request; check whether it "
        "arrived, then retry or mark it sent",
    )


def messages_send_due(*, limit: int = 200) -> int:
    """Send every queued or failed message whose time has come (the periodic sweep)."""
    due = Message.objects.filter(
        state__in=Message.SENDABLE, next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at")[:limit]
    sent = 0
    for message in list(due):
        if message_send(message=message).state == State.SENT:
            sent += 1
    return sent


def message_texts_drop(*, dry_run: bool = False, now: datetime | None = None) -> int:
    """Drop the sealed texts of messages done (sent, given up, cancelled) longer than the
    retention period. Idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MESSAGE_TEXT_RETENTION_DAYS)
    done = Message.objects.filter(
        state__in=(State.SENT, State.GAVE_UP, State.CANCELLED), finished_at__lt=cutoff
    ).exclude(sealed_text="")
    if dry_run:
        return done.count()
    return done.update(sealed_text="", text_dropped_at=now, updated_at=now)


def booking_reminder_at(scheduled_at: datetime, *, now: datetime | None = None) -> datetime | None:
    """When the reminder for an appointment goes out; None if off or already past."""
    if not settings.BOOKING_REMINDER_HOURS:
        return None
    at = scheduled_at - timedelta(hours=settings.BOOKING_REMINDER_HOURS)
    return at if at > (now or timezone.now()) else None


def expiry_reminder_at(expires_at: datetime, *, now: datetime | None = None) -> datetime | None:
    """When the "download before it expires" reminder goes out; None if off or past."""
    if not settings.EXPIRY_REMINDER_DAYS:
        return None
    at = expires_at - timedelta(days=settings.EXPIRY_REMINDER_DAYS)
    return at if at > (now or timezone.now()) else None
