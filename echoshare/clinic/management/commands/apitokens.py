"""Booking-system API tokens.

echoshare apitokens create NAME     prints the token once
echoshare apitokens list
echoshare apitokens revoke PREFIX   the first characters shown by `list`
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.clinic.models import ApiToken
from echoshare.clinic.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create, list and revoke the booking system's API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("create").add_argument("name")
        sub.add_parser("list")
        sub.add_parser("revoke").add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            token, plaintext = api_token_create(name=options["name"], source="cli")
            self.stdout.write(f"token for {token.name} (shown only now):")
            self.stdout.write(plaintext)
        elif action == "list":
            for token in ApiToken.objects.order_by("created_at"):
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
                self.stdout.write(f"{token.prefix}  {token.name}  {state}")
        else:
            matches = list(ApiToken.objects.active().filter(prefix=options["prefix"]))
            if len(matches) != 1:
                raise CommandError(f"{len(matches)} active tokens start with {options['prefix']!r}")
            api_token_revoke(token=matches[0], source="cli")
            self.stdout.write(f"revoked {matches[0]}")
