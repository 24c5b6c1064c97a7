"""The background job queue: django-tasks-db plus retries, a reaper and a scheduler.

Raise `PermanentError` from a task when trying again cannot help (bad input, a share that
no longer exists): the job fails at once instead of being retried.
"""

from __future__ import annotations


class PermanentError(Exception):
    """A job failure that a retry cannot fix: the job is not retried."""


class WorkerLost(Exception):
    """Recorded as a job's error when its worker stopped reporting while running it."""


__all__ = ["PermanentError", "WorkerLost"]
