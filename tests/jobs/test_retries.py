"""Retries: backoff with jitter and a cap, a limit on attempts, permanent errors, races."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import JobAttempt
from echoshare.jobs.services import job_fail, job_succeed, retry_delay
from echoshare.jobs.worker import JobWorker
from tests.jobs.sample_tasks import always_fails, refuses_bad_input, succeeds

pytestmark = pytest.mark.django_db


def run_next(worker: JobWorker) -> DBTaskResult | None:
    """What the worker loop does for one job: claim the next ready one and run it."""
    row = DBTaskResult.objects.ready().first()
    if row is None:
        return None
    row.claim(worker.worker_id)
    worker.run_task(row)
    row.refresh_from_db()
    return row


@pytest.fixture
def worker() -> JobWorker:
    return JobWorker(worker_id="test-worker", queue_names=["*"])


@pytest.fixture
def retry_settings(settings):
    settings.JOB_MAX_ATTEMPTS = 4
    settings.JOB_RETRY_BASE_SECONDS = 10
    settings.JOB_RETRY_MAX_SECONDS = 25
    return settings


def test_a_job_that_keeps_failing_backs_off_and_stops_at_the_cap(
    worker: JobWorker, retry_settings
) -> None:
    original = always_fails.enqueue()
    delays = []
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as clock:
        for _ in range(4):
            ran = run_next(worker)
            assert ran is not None and ran.status == TaskResultStatus.FAILED
            retry = DBTaskResult.objects.filter(status=TaskResultStatus.READY).first()
            if retry is None:
                break
            delays.append((retry.run_after - ran.finished_at).total_seconds())
            # Not due before its delay has passed ...
            assert run_next(worker) is None
            clock.shift(timedelta(seconds=delays[-1]))
        assert run_next(worker) is None

    nominal = [10, 20, 25]  # 10 * 2**(n-1), capped at 25
    assert len(delays) == 3
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected <= delay <= min(expected * 1.2, 25)
    attempts = JobAttempt.objects.filter(original_id=original.id).order_by("attempt")
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert [a.outcome for a in attempts] == ["retried"] * 3 + ["gave_up"]
    assert DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).count() == 4


def test_a_retried_job_sees_its_attempt_number(worker: JobWorker, retry_settings) -> None:
    retry_settings.JOB_RETRY_BASE_SECONDS = 0
    always_fails.enqueue()
    run_next(worker)
    second = run_next(worker)
    assert second is not None
    assert second.task_result.attempts == 2


def test_a_permanent_error_is_not_retried(worker: JobWorker, retry_settings) -> None:
    job = refuses_bad_input.enqueue()
    ran = run_next(worker)
    assert ran is not None and ran.status == TaskResultStatus.FAILED
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()
    assert JobAttempt.objects.get(result_id=job.id).outcome == JobAttempt.Outcome.PERMANENT


def test_a_successful_job_leaves_no_attempt_rows(worker: JobWorker) -> None:
    succeeds.enqueue()
    ran = run_next(worker)
    assert ran is not None and ran.status == TaskResultStatus.SUCCESSFUL
    assert ran.return_value == "ok"
    assert not JobAttempt.objects.exists()


def test_a_run_is_settled_once_a_late_result_after_reaping_is_dropped(retry_settings) -> None:
    succeeds.enqueue()
    row = DBTaskResult.objects.ready().get()
    row.claim("slow-worker")
    failure = job_fail(result=row, error=RuntimeError("reaped"), worker_lost=True)
    assert failure is not None and failure.retry is not None
    # The slow worker comes back with its result: it must not turn the run into a success,
    # and failing it again must not enqueue a second retry.
    assert job_succeed(result=row, return_value="late") is False
    assert job_fail(result=row, error=RuntimeError("again")) is None
    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1


def test_retry_delay_doubles_and_is_capped(settings) -> None:
    settings.JOB_RETRY_BASE_SECONDS = 30
    settings.JOB_RETRY_MAX_SECONDS = 3600
    for attempt, nominal in [(1, 30), (2, 60), (3, 120), (7, 1920)]:
        assert nominal <= retry_delay(attempt=attempt) <= nominal * 1.2
    assert retry_delay(attempt=20) == 3600


def test_jobs_status_lists_a_job_that_gave_up(worker: JobWorker, retry_settings) -> None:
    retry_settings.JOB_MAX_ATTEMPTS = 1
    job = always_fails.enqueue()
    with time_machine.travel(timezone.now(), tick=False):
        run_next(worker)
    out = StringIO()
    call_command("jobs", "status", stdout=out)
    text = out.getvalue()
    assert "gave up: 1" in text
    assert f"{job.id} tests.jobs.sample_tasks.always_fails after 1 attempt(s)" in text
