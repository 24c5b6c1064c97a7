"""`echoshare worker`: run background jobs until SIGTERM (echoshare.jobs.worker)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from echoshare.jobs.worker import run_worker


class Command(BaseCommand):
    help = "Run background jobs (with heartbeat, retries and reaping of lost workers' jobs)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--queue", default="*", help="comma-separated queue names, or * for all (default)"
        )
        parser.add_argument("--worker-id", help="unique id (default: host-pid-random)")

    def handle(self, *args: Any, queue: str, worker_id: str | None, **options: Any) -> None:
        run_worker(queue_names=queue.split(","), worker_id=worker_id)
