"""`echoshare restore SRC`: restore a backup into an empty installation, verifying hashes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.archive.backup import RestoreFailed, backup_restore


class Command(BaseCommand):
    help = "Restore a backup made by `echoshare backup` into an empty database and archive."
    # The target database is empty: nothing may touch it before the restore.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path, help="the backup folder")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = backup_restore(source=options["source"])
        except RestoreFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"restored the database and {report.files} file(s); {report.verified} verified "
            "against their SHA-256"
        )
