"""Settling a job: success, failure with retry (or giving up), giving it back, reaping.

Every change of a running job is a conditional UPDATE on (id, status RUNNING, started_at):
whoever settles a run first wins, so a reaper and a slow-but-alive worker can never both
count it, and a retry is enqueued at most once per failed run.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from traceback import format_exception
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.jobs import PermanentError, WorkerLost
from echoshare.jobs.models import JobAttempt, WorkerHeartbeat

logger = logging.getLogger(__name__)

# A retry waits its nominal delay plus up to this fraction more, so that many jobs that
# failed together (the portal was down) do not all come back in the same second.
RETRY_JITTER = 0.2
# Heartbeats of workers gone this long are deleted by the reaper.
HEARTBEAT_FORGET = timedelta(days=1)


def retry_delay(*, attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base * 2**(n-1),
    plus jitter, never more than JOB_RETRY_MAX_SECONDS."""
    nominal = settings.JOB_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    jittered = nominal * (1 + random.uniform(0, RETRY_JITTER))
    return float(min(jittered, settings.JOB_RETRY_MAX_SECONDS))


def _running(result: DBTaskResult) -> QuerySet[DBTaskResult]:
    """The rows of this very run of the job, if nobody has settled it yet."""
    return DBTaskResult.objects.filter(
        id=result.id, status=TaskResultStatus.RUNNING, started_at=result.started_at
    )


def job_succeed(*, result: DBTaskResult, return_value: Any) -> bool:
    """Record success; False if the run was settled already (reaped, given back)."""
    updated = _running(result).update(
        status=TaskResultStatus.SUCCESSFUL,
        finished_at=timezone.now(),
        return_value=return_value,
        exception_class_path="",
        traceback="",
    )
    if not updated:
        logger.warning("job %s finished after it was taken back; result dropped", result.id)
    return bool(updated)


def job_give_back(*, result: DBTaskResult) -> bool:
    """A stopping worker returns its job to the queue untouched (not a failed attempt)."""
    updated = _running(result).update(status=TaskResultStatus.READY, started_at=None)
    if updated:
        logger.info("job %s given back to the queue", result.id)
    return bool(updated)


def _attempt_of(result: DBTaskResult) -> tuple[int, Any]:
    row = JobAttempt.objects.filter(result_id=result.id).first()
    if row is None:
        return 1, result.id
    return row.attempt, row.original_id


def _outcome(*, error: BaseException, retry: bool, worker_lost: bool) -> str:
    Outcome = JobAttempt.Outcome
    if isinstance(error, PermanentError):
        return Outcome.PERMANENT
    if worker_lost:
        return Outcome.WORKER_LOST if retry else Outcome.WORKER_LOST_GAVE_UP
    return Outcome.RETRIED if retry else Outcome.GAVE_UP


def _enqueue_retry(*, result: DBTaskResult, run_after: datetime) -> DBTaskResult:
    # A copy of the job; worker_ids carries over so the task's context.attempt counts on.
    return DBTaskResult.objects.create(
        args_kwargs=result.args_kwargs,
        priority=result.priority,
        task_path=result.task_path,
        queue_name=result.queue_name,
        backend_name=result.backend_name,
        run_after=run_after,
        worker_ids=list(result.worker_ids),
    )


@dataclass(frozen=True)
class Failure:
    attempt: int
    outcome: str
    retry: DBTaskResult | None  # the next attempt's row; None when the job gave up


def job_fail(
    *, result: DBTaskResult, error: BaseException, worker_lost: bool = False
) -> Failure | None:
    """Record a failed run and enqueue the next attempt unless the cap is reached or the
    error is permanent. None when the run had been settled already by someone else."""
    now = timezone.now()
    with transaction.atomic():
        updated = _running(result).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            return_value=None,
            exception_class_path=f"{type(error).__module__}.{type(error).__qualname__}",
            traceback="".join(format_exception(error)),
        )
        if not updated:
            return None
        attempt, original_id = _attempt_of(result)
        retry = not isinstance(error, PermanentError) and attempt < settings.JOB_MAX_ATTEMPTS
        retry_row = None
        if retry:
            delay = timedelta(seconds=retry_delay(attempt=attempt))
            retry_row = _enqueue_retry(result=result, run_after=now + delay)
            JobAttempt.objects.create(
                result_id=retry_row.id, original_id=original_id, attempt=attempt + 1
            )
        outcome = _outcome(error=error, retry=retry, worker_lost=worker_lost)
        JobAttempt.objects.update_or_create(
            result_id=result.id,
            defaults={
                "original_id": original_id,
                "attempt": attempt,
                "outcome": outcome,
                "retried_as": retry_row.id if retry_row else None,
            },
        )
    _log_failure(result=result, error=error, attempt=attempt, retry_row=retry_row)
    return Failure(attempt=attempt, outcome=outcome, retry=retry_row)


def _log_failure(
    *, result: DBTaskResult, error: BaseException, attempt: int, retry_row: DBTaskResult | None
) -> None:
    # The exception's class only: its message may quote personal data.
    name = type(error).__name__
    if retry_row is not None:
        logger.warning(
            "job %s (%s) attempt %d failed (%s); retry %s after %s",
            result.id,
            result.task_path,
            attempt,
            name,
            retry_row.id,
            retry_row.run_after.isoformat(),
        )
    else:
        logger.error(
            "job %s (%s) attempt %d failed (%s); gave up",
            result.id,
            result.task_path,
            attempt,
            name,
        )


def stale_jobs(*, now: datetime | None = None) -> list[DBTaskResult]:
    """Running jobs whose worker has not reported within JOB_STALE_SECONDS."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JOB_STALE_SECONDS)
    alive = set(
        WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).values_list("worker_id", flat=True)
    )
    stale = []
    # A job claimed just now by a worker that has not written its first heartbeat yet is
    # not stale: only jobs started before the cutoff are judged.
    for result in DBTaskResult.objects.running().filter(started_at__lt=cutoff):
        worker_id = result.worker_ids[-1] if result.worker_ids else None
        if worker_id not in alive:
            stale.append(result)
    return stale


def jobs_reap_stale(*, now: datetime | None = None) -> int:
    """Fail and retry the running jobs of lost workers; forget long-dead workers.

    Safe to run from every worker at once: each run is settled by a conditional UPDATE.
    """
    reaped = 0
    for result in stale_jobs(now=now):
        worker = result.worker_ids[-1] if result.worker_ids else "?"
        error = WorkerLost(f"worker {worker} stopped reporting while running this job")
        if job_fail(result=result, error=error, worker_lost=True) is not None:
            reaped += 1
    forget = (now or timezone.now()) - HEARTBEAT_FORGET
    WorkerHeartbeat.objects.filter(last_seen__lt=forget).delete()
    return reaped


# Finished jobs are kept this long for the status page, then deleted by `jobs.prune`.
KEEP_SUCCEEDED = timedelta(days=7)
KEEP_FAILED = timedelta(days=90)


def jobs_prune(*, now: datetime | None = None) -> int:
    """Delete finished jobs past their keeping time (and their attempt rows)."""
    now = now or timezone.now()
    old = DBTaskResult.objects.filter(
        Q(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=now - KEEP_SUCCEEDED)
        | Q(status=TaskResultStatus.FAILED, finished_at__lt=now - KEEP_FAILED)
    )
    with transaction.atomic():
        ids = list(old.values_list("id", flat=True))
        JobAttempt.objects.filter(result_id__in=ids).delete()
        deleted, _ = DBTaskResult.objects.filter(id__in=ids).delete()
    return deleted
