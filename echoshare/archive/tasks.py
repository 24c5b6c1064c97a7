"""The archive's scheduled jobs: the weekly fixity check (E3) and approved destructions (E5)."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from echoshare.archive.fixity import archive_verify
from echoshare.archive.retention import destructions_execute
from echoshare.jobs.periodic import periodic


@periodic(name="archive.verify", every=timedelta(days=7))
@task()
def verify_archive() -> dict[str, int]:
    run = archive_verify(source="scheduler")
    return {
        "checked": run.checked,
        "missing": run.missing,
        "changed": run.changed,
        "unindexed": run.unindexed,
    }


@periodic(name="archive.destruction", every=timedelta(hours=1))
@task()
def execute_destructions() -> int:
    """Carry out destruction requests that a second staff member approved."""
    return destructions_execute()
