"""Drop the sealed texts of finished messages older than ECHOSHARE_MESSAGE_TEXT_RETENTION_DAYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from echoshare.notify.services import message_texts_drop


class Command(BaseCommand):
    help = "Drop the encrypted texts of messages finished longer than the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only count them")

    def handle(self, *args: Any, **options: Any) -> None:
        count = message_texts_drop(dry_run=options["dry_run"])
        verb = "would drop" if options["dry_run"] else "dropped"
        self.stdout.write(f"{verb} {count} message text(s)")
