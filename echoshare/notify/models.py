"""The outbox: every message to a patient is one row, from queued until sent or given up.

The text is stored only sealed (encrypted, see sealing.py) because it carries the link and
delete code or the password; it is dropped a retention period after the message is done.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class MessageQuerySet(models.QuerySet["Message"]):
    def needing_staff(self) -> MessageQuerySet:
        """Messages that will not go out without a person: given up, or outcome unknown."""
        return self.filter(state__in=(Message.State.GAVE_UP, Message.State.UNKNOWN))


class Message(models.Model):
    class Kind(models.TextChoices):
        BOOKING_CONFIRMATION = "booking_confirmation", _("booking confirmation")
        BOOKING_REMINDER = "booking_reminder", _("booking reminder")
        SHARE_LINK = "share_link", _("link to the images")
        EXPIRY_REMINDER = "expiry_reminder", _("expiry reminder")

    class Channel(models.TextChoices):
        EMAIL = "email", _("e-mail")
        SMS = "sms", _("SMS")

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed, will retry")
        GAVE_UP = "gave_up", _("gave up")
        # The worker stopped while the provider had the request: it may have gone out.
        # Never re-sent automatically; staff check with the provider and retry or mark sent.
        UNKNOWN = "unknown", _("outcome unknown")
        CANCELLED = "cancelled", _("cancelled")

    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=254)  # e-mail or E.164 phone
    language = models.CharField(max_length=2)
    subject = models.CharField(max_length=255, blank=True)
    sealed_text = models.TextField(blank=True, editable=False)
    text_dropped_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Given to providers and used in the Message-ID: random, so it says nothing about the
    # patient, and the same on every attempt, so providers that dedupe can.
    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    idempotency_key = models.CharField(max_length=200, unique=True)
    patient_ref = models.CharField(_("patient ID"), max_length=64, blank=True, db_index=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # sent, gave up or cancelled
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    retried_at = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        permissions = [("retry_message", "Can retry a failed message or mark it sent")]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} ({self.get_channel_display()}) {self.get_state_display()}"
        )

    # States from which staff may retry: the message is not out (or may not be) and its text
    # is still there to send.
    STAFF_RETRYABLE = frozenset({State.FAILED, State.GAVE_UP, State.UNKNOWN})
    # States the sender may claim.
    SENDABLE = frozenset({State.QUEUED, State.FAILED})

    @property
    def can_be_retried(self) -> bool:
        return self.state in self.STAFF_RETRYABLE and bool(self.sealed_text)
