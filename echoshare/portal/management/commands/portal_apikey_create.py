"""echoshare portal_apikey_create <clinic public id> [--label "..."]: prints the key once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.portal.models import Clinic
from echoshare.portal.services import apikey_create


class Command(BaseCommand):
    help = "Make a new API key for a clinic; the key is printed once and stored only hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("clinic", help="the clinic's public id")
        parser.add_argument("--label", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(public_id=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"no clinic with id {options['clinic']!r}")
        api_key, key = apikey_create(clinic=clinic, label=options["label"])
        self.stdout.write(f"api key {api_key.prefix} for {clinic.name} (shown once): {key}")
