"""Send the outbox's due messages now and mark dead "sending" rows unknown (what the
periodic job `notify.retry_due` does every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from echoshare.notify.models import Message
from echoshare.notify.services import messages_mark_stale, messages_send_due


class Command(BaseCommand):
    help = "Send queued and failed messages that are due; report messages needing staff."

    def handle(self, *args: Any, **options: Any) -> None:
        stale = messages_mark_stale()
        sent = messages_send_due()
        waiting = Message.objects.needing_staff().count()
        self.stdout.write(f"sent {sent}, newly unknown {stale}, needing staff {waiting}")
