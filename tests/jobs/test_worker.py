"""The worker process: a killed worker's job is taken back and retried; SIGTERM is clean."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import JobAttempt, WorkerHeartbeat
from echoshare.jobs.services import jobs_reap_stale
from tests.jobs.conftest import Processes, wait_for
from tests.jobs.sample_tasks import sleep_for, slow_on_first_attempt

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def status_of(result_id: object) -> str:
    return DBTaskResult.objects.get(id=result_id).status


def test_a_job_whose_worker_is_killed_is_retried_by_a_new_worker(
    processes: Processes, tmp_path: Path, settings
) -> None:
    settings.JOB_RETRY_BASE_SECONDS = 0
    settings.JOB_STALE_SECONDS = 5
    marks = tmp_path / "marks"
    marks.mkdir()
    job = slow_on_first_attempt.enqueue(str(marks), 120)
    first = processes.start("worker")
    wait_for(lambda: (marks / "attempt-1").exists(), what="the first attempt to start")
    assert status_of(job.id) == TaskResultStatus.RUNNING

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # Its heartbeat is still fresh: the job is not taken from a worker that may be alive.
    assert jobs_reap_stale() == 0
    later = timezone.now() + timedelta(seconds=settings.JOB_STALE_SECONDS + 1)
    assert jobs_reap_stale(now=later) == 1

    lost = DBTaskResult.objects.get(id=job.id)
    assert lost.status == TaskResultStatus.FAILED
    assert lost.exception_class_path == "echoshare.jobs.WorkerLost"
    attempt = JobAttempt.objects.get(result_id=job.id)
    assert attempt.outcome == JobAttempt.Outcome.WORKER_LOST
    assert attempt.retried_as is not None

    processes.start("worker")
    wait_for(
        lambda: status_of(attempt.retried_as) == TaskResultStatus.SUCCESSFUL,
        timeout=120,
        what="retry",
    )
    assert (marks / "attempt-2").exists()
    retry = JobAttempt.objects.get(result_id=attempt.retried_as)
    assert (retry.attempt, retry.original_id) == (2, attempt.result_id)


def test_a_running_worker_takes_back_the_job_of_a_killed_worker_by_itself(
    processes: Processes, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    job = slow_on_first_attempt.enqueue(str(marks), 120)
    first = processes.start("worker")
    wait_for(lambda: (marks / "attempt-1").exists(), what="the first attempt to start")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    processes.start("worker")  # its heartbeat thread reaps (stale after 5 s here)
    wait_for(lambda: (marks / "attempt-2").exists(), timeout=120, what="the reaped job's retry")
    retried_as = JobAttempt.objects.get(result_id=job.id).retried_as
    wait_for(lambda: status_of(retried_as) == TaskResultStatus.SUCCESSFUL, what="the retry")


def test_sigterm_lets_a_short_job_finish_and_the_worker_exit_cleanly(
    processes: Processes,
) -> None:
    worker = processes.start("worker")
    wait_for(WorkerHeartbeat.objects.exists, what="the worker's heartbeat")
    job = sleep_for.enqueue(1.0)
    wait_for(lambda: status_of(job.id) == TaskResultStatus.RUNNING, what="the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert status_of(job.id) == TaskResultStatus.SUCCESSFUL
    assert not WorkerHeartbeat.objects.exists()


def test_sigterm_gives_back_a_job_that_outlasts_the_grace_period(processes: Processes) -> None:
    worker = processes.start("worker")  # grace: 2 s in these tests
    job = sleep_for.enqueue(60.0)
    wait_for(lambda: status_of(job.id) == TaskResultStatus.RUNNING, what="the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    row = DBTaskResult.objects.get(id=job.id)
    assert row.status == TaskResultStatus.READY
    assert row.started_at is None
    assert not JobAttempt.objects.filter(result_id=job.id).exists()  # not a failed attempt
