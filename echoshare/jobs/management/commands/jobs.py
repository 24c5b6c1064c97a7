"""`echoshare jobs status | reap | prune`: look at the queue and tidy it by hand."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import JobAttempt, PeriodicSchedule, SchedulerLease, WorkerHeartbeat
from echoshare.jobs.services import jobs_prune, jobs_reap_stale

GAVE_UP = [
    JobAttempt.Outcome.GAVE_UP,
    JobAttempt.Outcome.WORKER_LOST_GAVE_UP,
    JobAttempt.Outcome.PERMANENT,
]


class Command(BaseCommand):
    help = "Show the job queue (status), take back jobs of lost workers (reap), prune old jobs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["status", "reap", "prune"])
        parser.add_argument(
            "--limit", type=int, default=20, help="jobs that gave up to list (status)"
        )

    def handle(self, *args: Any, action: str, limit: int, **options: Any) -> None:
        if action == "reap":
            self.stdout.write(f"took back {jobs_reap_stale()} job(s) of lost workers")
        elif action == "prune":
            self.stdout.write(f"deleted {jobs_prune()} finished job(s)")
        else:
            self.status(limit)

    def status(self, limit: int) -> None:
        now = timezone.now()
        counts = dict(DBTaskResult.objects.values_list("status").annotate(n=Count("id")).order_by())
        summary = ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items()))
        self.stdout.write(f"jobs: {summary or 'none'}")
        self.stdout.write(f"ready now: {DBTaskResult.objects.ready().count()}")
        self.stdout.write("workers:")
        for beat in WorkerHeartbeat.objects.order_by("worker_id"):
            age = (now - beat.last_seen).total_seconds()
            self.stdout.write(f"  {beat.worker_id} pid {beat.pid} last seen {age:.0f} s ago")
        lease = SchedulerLease.objects.first()
        if lease is not None:
            state = "active" if lease.expires_at > now else "expired"
            self.stdout.write(f"scheduler: {lease.holder or '-'} ({state})")
        self.stdout.write("periodic jobs:")
        for row in PeriodicSchedule.objects.all():
            self.stdout.write(f"  {row.name} next {row.next_run_at:%Y-%m-%d %H:%M:%S} UTC")
        self.gave_up(limit)

    def gave_up(self, limit: int) -> None:
        rows = JobAttempt.objects.filter(outcome__in=GAVE_UP).order_by("-created_at")[:limit]
        results = {r.id: r for r in DBTaskResult.objects.filter(id__in=[r.result_id for r in rows])}
        self.stdout.write(f"gave up: {JobAttempt.objects.filter(outcome__in=GAVE_UP).count()}")
        for row in rows:
            result = results.get(row.result_id)
            task_path = result.task_path if result else "?"
            when = f"{result.finished_at:%Y-%m-%d %H:%M:%S} UTC" if result else "?"
            self.stdout.write(
                f"  {row.original_id} {task_path} after {row.attempt} attempt(s): "
                f"{row.get_outcome_display()}, {when}"
            )
