"""echoshare portal_clinic_create --name "..." [--language en] [--months 2] [--logo logo.png]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from echoshare.portal.management.commands.portal_clinic_update import set_logo, valid_months
from echoshare.portal.services import apikey_create, clinic_create


class Command(BaseCommand):
    help = "Create a clinic (tenant) on this portal and print its first API key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--language", choices=["nl", "en"], default="nl")
        parser.add_argument("--months", type=valid_months, default=None, help="share lifetime")
        parser.add_argument("--logo", default=None, help="PNG or JPEG file")
        parser.add_argument("--no-key", action="store_true", help="do not make an API key")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = clinic_create(
            name=options["name"], language=options["language"], share_months=options["months"]
        )
        if options["logo"]:
            set_logo(clinic, options["logo"])
        self.stdout.write(f"clinic {clinic.public_id} {clinic.name}")
        if not options["no_key"]:
            _, key = apikey_create(clinic=clinic, label="first key")
            self.stdout.write(f"api key (shown once, store it now): {key}")
