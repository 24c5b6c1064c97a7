"""Several processes writing to one database at once: no "database is locked", no lost update.

On SQLite this is what WAL, IMMEDIATE transactions and the busy timeout are for (settings);
the same test runs on PostgreSQL. Each process enqueues jobs and increments one shared
counter in a read-modify-write transaction (the pattern that fails on SQLite's default
DEFERRED transactions when two readers both try to upgrade to writers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from echoshare.jobs.models import WorkerHeartbeat
from tests.jobs.conftest import ROOT, Processes

PROCESSES = 4
SECONDS = 3.0

WRITER = f"""
import json, os, time
from django.db import transaction
from echoshare.jobs.models import WorkerHeartbeat
from tests.jobs.sample_tasks import succeeds

enqueued = increments = 0
deadline = time.monotonic() + {SECONDS}
while time.monotonic() < deadline:
    succeeds.enqueue()
    enqueued += 1
    with transaction.atomic():
        counter = WorkerHeartbeat.objects.select_for_update().get(worker_id="counter")
        counter.pid += 1
        counter.save(update_fields=["pid"])
    increments += 1
print(json.dumps({{"enqueued": enqueued, "increments": increments}}))
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_processes_writing_at_once_never_see_database_is_locked(tmp_path: Path) -> None:
    env = Processes(tmp_path).env
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="counter", pid=0, host="-", started_at=now, last_seen=now
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "echoshare.cli", "shell", "-c", WRITER],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode(errors="replace")[-2000:]
        assert b"locked" not in err
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))

    assert all(r["enqueued"] > 0 for r in reports)
    assert DBTaskResult.objects.count() == sum(r["enqueued"] for r in reports)
    counter = WorkerHeartbeat.objects.get(worker_id="counter")
    assert counter.pid == sum(r["increments"] for r in reports)  # no update lost
