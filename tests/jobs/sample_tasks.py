"""Tasks the queue tests enqueue; importable by worker subprocesses (cwd is the repo)."""

from __future__ import annotations

import time
from pathlib import Path

from django_tasks import task
from django_tasks.base import TaskContext

from echoshare.jobs import PermanentError


@task(takes_context=True)
def slow_on_first_attempt(context: TaskContext, folder: str, seconds: float) -> str:
    """Leaves a file per attempt; the first attempt sleeps (long enough to be killed)."""
    Path(folder, f"attempt-{context.attempt}").touch()
    if context.attempt == 1:
        time.sleep(seconds)
    return "done"


@task()
def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


@task()
def always_fails() -> None:
    raise RuntimeError("this job always fails")


@task()
def refuses_bad_input() -> None:
    raise PermanentError("nothing a retry could fix")


@task()
def succeeds() -> str:
    return "ok"


@task()
def every_ten_seconds() -> None:
    """Enqueued by the scheduler tests (through a PeriodicJob they build themselves)."""
