"""echoshare portal_purge [--dry-run]: expire and purge due shares, print counts (D2)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from echoshare.portal.ratelimit import ratelimit_prune
from echoshare.portal.services import shares_purge_due


class Command(BaseCommand):
    help = "Expire shares past their expiry, remove ended shares' files, drop read tombstones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only count")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        counts = shares_purge_due(dry_run=dry_run)
        prefix = "would purge" if dry_run else "purged"
        self.stdout.write(
            f"{prefix}: due={counts.due} purged={counts.purged} failed={counts.failed} "
            f"tombstones_removed={counts.tombstones_removed} "
            f"orphans_removed={counts.orphans_removed}"
        )
        if not dry_run:
            ratelimit_prune()
        if counts.failed:
            raise SystemExit(1)
