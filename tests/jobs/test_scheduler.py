"""The scheduler: one active holder of the lease, each due run enqueued exactly once."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import PeriodicSchedule, SchedulerLease
from echoshare.jobs.periodic import PeriodicJob, periodic
from echoshare.jobs.scheduler import LEASE_NAME, Scheduler
from echoshare.jobs.tasks import prune
from tests.jobs.conftest import Processes, wait_for
from tests.jobs.sample_tasks import every_ten_seconds, succeeds

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
JOB = PeriodicJob(
    name="tests.every_ten_seconds", task=every_ten_seconds, every=timedelta(seconds=10)
)


def scheduler(holder: str) -> Scheduler:
    return Scheduler(jobs={JOB.name: JOB}, holder=holder, lease_seconds=30)


def workers_ran_everything() -> None:
    DBTaskResult.objects.filter(status=TaskResultStatus.READY).update(
        status=TaskResultStatus.SUCCESSFUL
    )


def enqueued() -> int:
    return DBTaskResult.objects.filter(task_path=every_ten_seconds.module_path).count()


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_racing_enqueue_each_due_run_exactly_once() -> None:
    # Both act as if they held the lease: only the guard on next_run_at stands between them.
    slots = [START + timedelta(seconds=10 * n) for n in range(15)]
    counts: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def race(name: str) -> None:
        try:
            sched = scheduler(name)
            for now in slots:
                barrier.wait(timeout=30)
                counts[name].append(sched.enqueue_due(now))
                barrier.wait(timeout=30)
                if name == "a":  # a worker ran it; the next slot is not held back
                    workers_ran_everything()
                barrier.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(name,)) for name in counts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert [a + b for a, b in zip(counts["a"], counts["b"], strict=True)] == [1] * len(slots)
    assert enqueued() == len(slots)


@pytest.mark.django_db
def test_only_the_lease_holder_enqueues_and_a_standby_takes_over_when_it_dies() -> None:
    active, standby = scheduler("a"), scheduler("b")
    assert active.tick(START) == 1
    workers_ran_everything()
    assert standby.tick(START + timedelta(seconds=10)) == 0  # due, but not the holder
    assert active.tick(START + timedelta(seconds=10)) == 1
    workers_ran_everything()
    # "a" dies without releasing: "b" waits until the lease (30 s) has run out.
    assert standby.tick(START + timedelta(seconds=39)) == 0
    assert standby.tick(START + timedelta(seconds=41)) == 1
    assert SchedulerLease.objects.get(name=LEASE_NAME).holder == "b"
    assert active.tick(START + timedelta(seconds=50)) == 0
    assert enqueued() == 3


@pytest.mark.django_db
def test_a_stopping_scheduler_releases_the_lease_at_once() -> None:
    active, standby = scheduler("a"), scheduler("b")
    active.tick(timezone.now())
    active.release_lease()
    assert standby.take_lease(timezone.now())


@pytest.mark.django_db
def test_runs_missed_while_no_scheduler_ran_are_caught_up_once() -> None:
    sched = scheduler("a")
    sched.tick(START)
    workers_ran_everything()
    assert sched.tick(START + timedelta(hours=1)) == 1
    assert PeriodicSchedule.objects.get().next_run_at == START + timedelta(hours=1, seconds=10)


@pytest.mark.django_db
def test_a_run_still_waiting_for_a_worker_is_not_enqueued_again() -> None:
    sched = scheduler("a")
    sched.tick(START)
    assert sched.tick(START + timedelta(seconds=10)) == 0
    assert enqueued() == 1


def test_periodic_refuses_a_plain_function_and_a_name_taken_by_another_task() -> None:
    with pytest.raises(TypeError):
        periodic(name="tests.plain", every=timedelta(minutes=1))(lambda: None)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="already registered"):
        periodic(name="jobs.prune", every=timedelta(hours=1))(succeeds)
    assert periodic(name="jobs.prune", every=timedelta(hours=1))(prune) is prune


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_scheduler_processes_one_active_and_the_other_takes_over(
    processes: Processes,
) -> None:
    env = {"ECHOSHARE_JOB_SCHEDULER_LEASE_SECONDS": "5"}
    first = processes.start("scheduler", **env)
    second = processes.start("scheduler", **env)
    pids = {first.pid: first, second.pid: second}

    def holder_pid() -> int | None:
        lease = SchedulerLease.objects.filter(name=LEASE_NAME).first()
        if lease is None or not lease.holder or lease.expires_at < timezone.now():
            return None
        return int(lease.holder.rsplit("-", 2)[1])

    # Generous timeouts: starting Python under a loaded CI machine can take long.
    wait_for(lambda: holder_pid() in pids, timeout=120, what="a scheduler to take the lease")
    prunes = DBTaskResult.objects.filter(task_path=prune.module_path)
    wait_for(prunes.exists, what="jobs.prune to be enqueued")
    current = holder_pid()
    holder = first if current == first.pid else second
    other = second if holder is first else first

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    wait_for(lambda: holder_pid() == other.pid, timeout=30, what="the standby to take over")
    assert prunes.count() == 1  # the hourly job's first run, enqueued once by the two

    other.send_signal(signal.SIGTERM)
    assert other.wait(timeout=15) == 0
    assert holder_pid() is None  # released on the way out
