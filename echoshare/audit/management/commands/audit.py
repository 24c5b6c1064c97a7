"""`echoshare audit verify`: walk the audit log's hash chain and report the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from echoshare.audit import events
from echoshare.audit.services import audit_record, audit_verify


class Command(BaseCommand):
    help = "Audit log tools. `verify`: check the hash chain (exit status 1 when broken)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="re-hash every record and report the first broken link")

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify()
        with transaction.atomic():
            audit_record(
                event=events.AUDIT_VERIFIED,
                outcome=events.SUCCESS if report.ok else events.FAILURE,
                detail=f"checked={report.checked} broken={report.broken_seq or ''}",
                source="cli",
            )
        if not report.ok:
            raise CommandError(
                f"audit chain broken at record #{report.broken_seq}: {report.reason} "
                f"({report.checked} records before it are intact)",
                returncode=1,
            )
        self.stdout.write(f"audit chain intact: {report.checked} records")
