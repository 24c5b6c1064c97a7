"""echoshare portal_apikey_revoke <prefix>: the key stops working at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.portal.services import apikey_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the 8 characters after 'esk_')."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        if not apikey_revoke(prefix=options["prefix"]):
            raise CommandError(f"no active key with prefix {options['prefix']!r}")
        self.stdout.write(f"revoked {options['prefix']}")
