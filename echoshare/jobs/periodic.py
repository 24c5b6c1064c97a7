"""Registry of periodic jobs, run by `echoshare scheduler`.

Any app declares one in its `tasks.py`; the scheduler imports the `tasks` module of every
installed app and enqueues each job when it is due (exactly once, however many schedulers
run):

    @periodic(name="portal.purge_expired", every=timedelta(minutes=10))
    @task()
    def purge_expired() -> None: ...

A periodic job takes no arguments and should be idempotent: a run can be retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.utils.module_loading import autodiscover_modules
from django_tasks.base import Task

TaskT = TypeVar("TaskT", bound=Task[Any, Any])


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: Task[Any, Any]
    every: timedelta


_registry: dict[str, PeriodicJob] = {}


def periodic(*, name: str, every: timedelta) -> Callable[[TaskT], TaskT]:
    """Register a task to be enqueued every `every` under a stable `name`.

    The name is the key of the job's schedule in the database, so keep it when the
    function moves. Put `@periodic` above `@task()`.
    """
    if every < timedelta(seconds=1):
        raise ValueError(f"periodic job {name!r}: every must be at least one second")

    def register(task: TaskT) -> TaskT:
        if not isinstance(task, Task):
            raise TypeError(f"periodic job {name!r}: put @periodic(...) above @task()")
        existing = _registry.get(name)
        if existing is not None and existing.task.module_path != task.module_path:
            raise ValueError(
                f"periodic job {name!r} is already registered for {existing.task.module_path}"
            )
        _registry[name] = PeriodicJob(name=name, task=task, every=every)
        return task

    return register


def registered() -> dict[str, PeriodicJob]:
    """The periodic jobs known so far, by name (call `discover()` first in a process)."""
    return dict(_registry)


def discover() -> dict[str, PeriodicJob]:
    """Import the `tasks` module of every installed app and return the registry."""
    autodiscover_modules("tasks")
    return registered()
