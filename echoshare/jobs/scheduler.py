"""The scheduler: enqueues the registered periodic jobs (echoshare.jobs.periodic) when due.

Run as many as you like (one per machine, say): exactly one is active. It holds a lease row,
taken and renewed with a conditional UPDATE; the others are standbys that take over once the
lease has expired (the holder died) or was released (the holder stopped). Each due run is
also claimed with a conditional UPDATE on the job's `next_run_at`, so even two schedulers
that both believed they held the lease could not enqueue the same run twice.

Times are the schedulers' own clocks: keep the machines' clocks synchronised (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import PeriodicSchedule, SchedulerLease
from echoshare.jobs.periodic import PeriodicJob, discover

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def new_holder_id() -> str:
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{get_random_string(8)}"


class Scheduler:
    def __init__(
        self,
        *,
        jobs: dict[str, PeriodicJob] | None = None,
        holder: str | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.jobs = discover() if jobs is None else jobs
        self.holder = holder or new_holder_id()
        self.lease = timedelta(seconds=lease_seconds or settings.JOB_SCHEDULER_LEASE_SECONDS)
        # Renew well before expiry; a standby looks as often.
        self.tick_seconds = min(5.0, self.lease.total_seconds() / 3)
        self.is_leader = False

    def take_lease(self, now: datetime) -> bool:
        """Take or renew the lease; True while this scheduler is the active one."""
        SchedulerLease.objects.get_or_create(
            name=LEASE_NAME, defaults={"holder": "", "expires_at": now - timedelta(seconds=1)}
        )
        updated = (
            SchedulerLease.objects.filter(name=LEASE_NAME)
            .filter(Q(holder=self.holder) | Q(expires_at__lt=now))
            .update(holder=self.holder, expires_at=now + self.lease)
        )
        return updated == 1

    def release_lease(self) -> None:
        """Let a standby take over at once instead of after the lease runs out."""
        SchedulerLease.objects.filter(name=LEASE_NAME, holder=self.holder).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

    def enqueue_due(self, now: datetime) -> int:
        """Enqueue every job due at `now`; each due run at most once. Returns how many."""
        enqueued = 0
        for job in self.jobs.values():
            row, _ = PeriodicSchedule.objects.get_or_create(
                name=job.name, defaults={"next_run_at": now}
            )
            if row.next_run_at <= now and self._enqueue(job, row, now):
                enqueued += 1
        return enqueued

    def _enqueue(self, job: PeriodicJob, row: PeriodicSchedule, now: datetime) -> bool:
        next_run = row.next_run_at + job.every
        if next_run <= now:  # runs missed while no scheduler ran: one catch-up, not a burst
            next_run = now + job.every
        with transaction.atomic():
            claimed = PeriodicSchedule.objects.filter(
                name=job.name, next_run_at=row.next_run_at
            ).update(next_run_at=next_run, last_enqueued_at=now)
            if not claimed:
                return False  # another scheduler took this run
            if self._still_waiting(row):
                logger.warning("periodic job %s: last run still queued, skipped", job.name)
                return False
            result = job.task.enqueue()
            PeriodicSchedule.objects.filter(name=job.name).update(last_result_id=result.id)
        logger.info("periodic job %s enqueued as %s", job.name, result.id)
        return True

    @staticmethod
    def _still_waiting(row: PeriodicSchedule) -> bool:
        """The previous run has not even started (no worker?): do not pile up copies."""
        if row.last_result_id is None:
            return False
        return DBTaskResult.objects.filter(
            id=row.last_result_id, status=TaskResultStatus.READY
        ).exists()

    def tick(self, now: datetime | None = None) -> int:
        now = now or timezone.now()
        leader = self.take_lease(now)
        if leader != self.is_leader:
            logger.info("scheduler %s is %s", self.holder, "active" if leader else "standing by")
            self.is_leader = leader
        return self.enqueue_due(now) if leader else 0

    def run(self, stop: threading.Event) -> None:
        logger.info(
            "scheduler %s started with %d periodic job(s): %s",
            self.holder,
            len(self.jobs),
            ", ".join(sorted(self.jobs)) or "-",
        )
        try:
            while not stop.is_set():
                close_old_connections()
                try:
                    self.tick()
                except DatabaseError:
                    logger.exception("scheduler tick failed; trying again")
                stop.wait(self.tick_seconds)
        finally:
            if self.is_leader:
                try:
                    self.release_lease()
                except DatabaseError:
                    logger.exception("could not release the scheduler lease")
            logger.info("scheduler %s stopped", self.holder)
