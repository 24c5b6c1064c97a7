"""Background jobs of the portal: removing a share's files, and the periodic purge."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from django_tasks import task

from echoshare.jobs.periodic import periodic
from echoshare.portal.ratelimit import ratelimit_prune
from echoshare.portal.services import PurgeOutcome, share_purge, shares_purge_due


class PurgeFailed(Exception):
    """Raised so that the queue retries; the share already shows `purge_failed` (D3)."""


@task()
def share_purge_task(share_id: int) -> str:
    """Remove the files of a revoked or deleted share (queued after the commit that ended it)."""
    outcome = share_purge(share_id=share_id)
    if outcome is PurgeOutcome.FAILED:
        raise PurgeFailed(f"removing the files of share #{share_id} failed")
    return outcome.value


@periodic(name="portal.purge_expired", every=timedelta(minutes=10))
@task()
def purge_expired() -> dict[str, int]:
    """Expire and purge every share that is due (D2); idempotent, safe to re-run."""
    counts = shares_purge_due()
    ratelimit_prune()
    if counts.failed:
        raise PurgeFailed(f"{counts.failed} share(s) could not be purged; see their status")
    return asdict(counts)
