"""`echoshare backup DEST`: a consistent copy of the database and the archive files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.archive.backup import BackupFailed, backup_create


class Command(BaseCommand):
    help = "Copy the database and every archived file (with a manifest of SHA-256) to DEST."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dest", type=Path, help="an empty or new folder")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = backup_create(dest=options["dest"])
        except BackupFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"backup written to {report.destination}: database and {report.files} file(s), "
            f"{report.bytes} bytes. Keep the secrets listed in KEYS.txt elsewhere."
        )
