"""Background jobs of the clinic tier: publishing, auto-publishing, the share status pull and
revoking the shares of a destroyed exam."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django_tasks import task

from echoshare.clinic.models import Publication
from echoshare.clinic.passwords import passwords_drop_stale
from echoshare.clinic.publishing import (
    auto_publish_due,
    destroyed_shares_sweep,
    publication_run,
    shares_revoke_after_destruction,
)
from echoshare.clinic.share_status import share_status_pull
from echoshare.jobs.periodic import periodic


@task()
def publish_share(*, publication_id: int) -> str:
    """Render and publish one share (H3: never inside a request). A portal that could not be
    reached raises, and the queue retries with the same Idempotency-Key."""
    if not Publication.objects.filter(pk=publication_id).exists():
        return "missing"
    return publication_run(publication_id=publication_id).state


@task()
def revoke_destroyed_shares(*, publication_ids: list[int], reason: str) -> int:
    """Revoke the shares of an exam whose archived data was destroyed on request (queued
    after the destruction's commit). A portal that could not be reached raises, and the
    queue retries with its backoff; the destruction itself is done already."""
    return shares_revoke_after_destruction(publication_ids=publication_ids, reason=reason)


@periodic(name="clinic.destroyed_shares_sweep", every=timedelta(hours=1))
@task()
def sweep_destroyed_shares() -> int:
    """Revoke what a `revoke_destroyed_shares` job that gave up left open."""
    return destroyed_shares_sweep()


@periodic(name="clinic.auto_publish", every=timedelta(minutes=1))
@task()
def auto_publish() -> int:
    return len(auto_publish_due())


@periodic(
    name="clinic.share_status_pull", every=timedelta(seconds=settings.SHARE_STATUS_PULL_SECONDS)
)
@task()
def pull_share_status() -> int:
    return share_status_pull()


@periodic(name="clinic.drop_stale_passwords", every=timedelta(hours=1))
@task()
def drop_stale_passwords() -> int:
    return passwords_drop_stale()
