"""How a delivery attempt can fail. Backends raise these; `message_send` maps them to states."""

from __future__ import annotations


class DeliveryError(Exception):
    """Base class. The text is shown to staff, so it never holds the message's secrets."""


class NotDeliveredError(DeliveryError):
    """The provider certainly did not take the message (no connection, 5xx, 429): retry later."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RejectedError(DeliveryError):
    """The provider refused the message for good (4xx: bad number, bad credentials)."""


class OutcomeUnknownError(DeliveryError):
    """The request went out but no answer came back (read timeout, dropped connection): the
    provider may or may not have taken it."""


class MessageTooLongError(ValueError):
    """A rendered SMS would take more than two segments."""


class TemplateMissingError(ValueError):
    """No template for this kind, channel and language (e.g. an SMS for a booking)."""
