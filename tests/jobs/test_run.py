"""`echoshare run`: starts web, worker and scheduler, restarts a crashed child, stops all."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from echoshare.core.management.commands.run import HEALTHY_AFTER, Child
from echoshare.jobs.models import SchedulerLease, WorkerHeartbeat
from tests.jobs.conftest import Processes, wait_for
from tests.jobs.test_web import answers, free_port


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def live_worker_pids() -> set[int]:
    fresh = timezone.now() - timedelta(seconds=3)
    return set(WorkerHeartbeat.objects.filter(last_seen__gte=fresh).values_list("pid", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_run_supervises_web_worker_and_scheduler_and_stops_them_all(
    processes: Processes,
) -> None:
    port = free_port()
    # --only: a DICOM listener (when installed) would want a fixed port; its own tests cover it.
    run = processes.start("run", "--only", "web,worker,scheduler", ECHOSHARE_HTTP_PORT=str(port))
    children: list[int] = []
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout=120, what="web")
        wait_for(live_worker_pids, timeout=60, what="the worker's heartbeat")
        wait_for(SchedulerLease.objects.exists, timeout=60, what="the scheduler's lease")
        children = children_of(run.pid)
        assert len(children) == 3

        (crashed,) = live_worker_pids()
        os.kill(crashed, signal.SIGKILL)
        wait_for(
            lambda: live_worker_pids() - {crashed}, timeout=60, what="the worker to be restarted"
        )
        children = children_of(run.pid)
        assert crashed not in children and len(children) == 3

        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0
        assert not [pid for pid in children if alive(pid)]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_child_that_keeps_crashing_is_restarted_with_growing_waits() -> None:
    child = Child("worker", ["true"])
    delays = []
    for _ in range(8):
        child.started_at = 1000.0
        child.schedule_restart(1001.0)  # crashed a second after starting
        delays.append(child.restart_at - 1001.0)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    child.started_at = 1000.0
    child.schedule_restart(1000.0 + HEALTHY_AFTER + 1)  # ran a while: start again at once
    assert child.restart_at == 1000.0 + HEALTHY_AFTER + 1
