"""The queue's own periodic housekeeping."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from echoshare.jobs.periodic import periodic
from echoshare.jobs.services import jobs_prune


@periodic(name="jobs.prune", every=timedelta(hours=1))
@task()
def prune() -> int:
    return jobs_prune()
