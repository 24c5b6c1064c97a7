"""echoshare portal_clinic_update <clinic id> [--name] [--language] [--months] [--logo]"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.portal.models import Clinic
from echoshare.portal.services import clinic_set_logo
from echoshare.portal.uploads import UploadError


def valid_months(value: str) -> int:
    months = int(value)
    if not 1 <= months <= 24:
        raise argparse.ArgumentTypeError("from 1 to 24 months")
    return months


def set_logo(clinic: Clinic, file_name: str) -> None:
    try:
        with Path(file_name).open("rb") as source:
            clinic_set_logo(clinic=clinic, source=source)
    except OSError as exc:
        raise CommandError(f"cannot read {file_name}: {exc.strerror}") from exc
    except UploadError as exc:
        raise CommandError(exc.detail) from exc


class Command(BaseCommand):
    help = "Change a clinic's name, default language, share lifetime or logo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("clinic", help="the clinic's public id")
        parser.add_argument("--name")
        parser.add_argument("--language", choices=["nl", "en"])
        parser.add_argument("--months", type=valid_months)
        parser.add_argument("--logo", help="PNG or JPEG file")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(public_id=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"no clinic with id {options['clinic']!r}")
        if options["name"]:
            clinic.name = options["name"]
        if options["language"]:
            clinic.default_language = options["language"]
        if options["months"]:
            clinic.default_share_months = options["months"]
        clinic.save()
        if options["logo"]:
            set_logo(clinic, options["logo"])
        self.stdout.write(f"clinic {clinic.public_id} {clinic.name} updated")
