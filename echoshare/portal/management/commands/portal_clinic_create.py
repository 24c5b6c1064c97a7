"""echoshare portal_clinic_create --name "Echopraktijk De Linde" [--language en] [--months 2]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from echoshare.portal.services import apikey_create, clinic_create


class Command(BaseCommand):
    help = "Create a clinic (tenant) on this portal and print its first API key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--language", choices=["nl", "en"], default="nl")
        parser.add_argument("--months", type=int, default=None, help="default share lifetime")
        parser.add_argument("--no-key", action="store_true", help="do not make an API key")

    def handle(self, *args: Any, **options: Any) -> None:
        months = options["months"]
        if months is not None and not 1 <= months <= 24:
            self.stderr.write("--months must be from 1 to 24")
            raise SystemExit(2)
        clinic = clinic_create(
            name=options["name"], language=options["language"], share_months=months
        )
        self.stdout.write(f"clinic {clinic.public_id} {clinic.name}")
        if not options["no_key"]:
            _, key = apikey_create(clinic=clinic, label="first key")
            self.stdout.write(f"api key (shown once, store it now): {key}")
