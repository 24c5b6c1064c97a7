"""`echoshare appointments import FILE [--dry-run]` (docs/appointments-import.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echoshare.clinic.appointments_import import (
    DUPLICATE,
    IMPORTED,
    REFUSED,
    ImportFileError,
    ImportReport,
    appointments_import,
)


class Command(BaseCommand):
    help = "Appointments. `import FILE`: book the appointments of a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        importer = sub.add_parser("import", help="import a CSV file (one appointment per row)")
        importer.add_argument("file", type=Path)
        importer.add_argument(
            "--dry-run", action="store_true", help="check every row, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        try:
            report = appointments_import(data=data, dry_run=options["dry_run"], source="cli")
        except ImportFileError as exc:
            raise CommandError(f"{path}: {exc}; nothing was imported") from exc
        self._print(report)
        if report.count(REFUSED):
            raise CommandError(f"{report.count(REFUSED)} rows refused", returncode=1)

    def _print(self, report: ImportReport) -> None:
        for result in report.rows:
            if result.outcome == IMPORTED:
                verb = "would import" if report.dry_run else "imported"
                self.stdout.write(f"row {result.row}: {verb} {result.accession_number}".rstrip())
                continue
            for field_name, message in result.errors.items():
                self.stdout.write(f"row {result.row}: {result.outcome}: {field_name}: {message}")
        verb = "would import" if report.dry_run else "imported"
        self.stdout.write(
            f"{verb} {report.count(IMPORTED)}, duplicates {report.count(DUPLICATE)}, "
            f"refused {report.count(REFUSED)}"
        )
