"""What the queue adds to django-tasks-db: attempts, worker heartbeats, the scheduler's lease
and the periodic jobs' schedule. The jobs themselves are django-tasks-db's DBTaskResult rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobAttempt(models.Model):
    """One attempt of a job: a DBTaskResult row, and which job it is an attempt of.

    A retry is a new DBTaskResult (run_after = the backoff); `original_id` ties all attempts
    of one job together. A job enqueued normally has no row until it fails: it is attempt 1
    of itself.
    """

    class Outcome(models.TextChoices):
        RETRIED = "retried", "failed, retried"
        GAVE_UP = "gave_up", "failed, gave up"
        WORKER_LOST = "worker_lost", "worker lost, retried"
        WORKER_LOST_GAVE_UP = "worker_lost_gave_up", "worker lost, gave up"
        PERMANENT = "permanent", "permanent error, not retried"

    result_id = models.UUIDField(primary_key=True)
    original_id = models.UUIDField(db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    retried_as = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("job attempt")
        verbose_name_plural = _("job attempts")

    def __str__(self) -> str:
        return f"{self.original_id} attempt {self.attempt}"

    @property
    def gave_up(self) -> bool:
        return self.outcome in (
            self.Outcome.GAVE_UP,
            self.Outcome.WORKER_LOST_GAVE_UP,
            self.Outcome.PERMANENT,
        )


class WorkerHeartbeat(models.Model):
    """A live worker reports here every few seconds; the reaper trusts nothing else."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    pid = models.PositiveIntegerField()
    host = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.host}:{self.pid})"


class SchedulerLease(models.Model):
    """The single row that says which scheduler is active, until when.

    Taken and renewed with a conditional UPDATE (holder is me, or the lease has expired),
    so at most one scheduler holds it at any moment.
    """

    name = models.CharField(max_length=32, primary_key=True)
    holder = models.CharField(max_length=128, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("scheduler lease")
        verbose_name_plural = _("scheduler leases")

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or '-'} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class PeriodicSchedule(models.Model):
    """When a periodic job is next due. Moved forward with a conditional UPDATE on the
    old value, so two schedulers can never enqueue the same run twice."""

    name = models.CharField(max_length=100, primary_key=True)
    next_run_at = models.DateTimeField()
    last_enqueued_at = models.DateTimeField(null=True, blank=True)
    last_result_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("periodic schedule")
        verbose_name_plural = _("periodic schedules")

    def __str__(self) -> str:
        return self.name
