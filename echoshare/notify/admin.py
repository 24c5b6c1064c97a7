"""The outbox for staff: every message with its state, attempts and last error; failed,
given-up and unknown messages can be retried, unknown ones marked sent. Texts are sealed and
never shown; nothing can be added, edited or deleted here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from echoshare.notify.models import Message
from echoshare.notify.services import MessageStateError, message_mark_sent, message_retry


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = (
        "created_at",
        "kind",
        "channel",
        "recipient",
        "patient_ref",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("state", "kind", "channel")
    search_fields = ("patient_ref", "recipient", "provider_message_id")
    date_hierarchy = "created_at"
    exclude = ("sealed_text",)
    actions = ("retry", "mark_sent")

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        return [field.name for field in Message._meta.fields if field.name != "sealed_text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notify.retry_message")

    @admin.action(
        description="Send again (failed, gave up, or unknown after checking)", permissions=["retry"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        self._apply(request, queryset, message_retry, "queued again")

    @admin.action(description="Mark as sent (checked with the provider)", permissions=["retry"])
    def mark_sent(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        self._apply(request, queryset, message_mark_sent, "marked sent")

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[Message], action: Any, done: str
    ) -> None:
        count = 0
        for message in queryset:
            try:
                action(message=message, user=request.user)
                count += 1
            except MessageStateError as exc:
                self.message_user(request, f"Message {message.pk}: {exc}", messages.WARNING)
        if count:
            self.message_user(request, f"{count} message(s) {done}.", messages.SUCCESS)
