"""`echoshare monitor`: evaluate the system status once, open/close incidents, mail alerts.

The scheduler runs the same as the periodic job "staffpages.monitor"; that job needs a live
worker, so run this from cron as well to hear about a worker that is down.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from echoshare.clinic.monitoring import conditions_check, monitor_run


class Command(BaseCommand):
    help = "Check the system status once; e-mail administrators about new and cleared incidents."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="print the conditions, record and mail nothing"
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        checks = conditions_check()
        for check in checks:
            state = "unknown" if check.ok is None else ("ok" if check.ok else "PROBLEM")
            self.stdout.write(f"{check.name:18} {state:8} {check.detail}")
        if dry_run:
            return
        outcome = monitor_run(checks=checks)
        self.stdout.write(f"opened: {len(outcome.opened)}, closed: {len(outcome.closed)}")
        if any(check.bad for check in checks):
            raise SystemExit(1)
