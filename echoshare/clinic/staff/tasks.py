"""Jobs of the staff pages: staff thumbnails, and the system monitor (every minute)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django_tasks import task

from echoshare.jobs.periodic import periodic


@task()
def make_thumbnail(instance_key: str) -> bool:
    from echoshare.archive.models import Instance
    from echoshare.clinic.staff.thumbnails import thumbnail_make

    instance = Instance.objects.filter(key=instance_key).first()
    return instance is not None and thumbnail_make(instance=instance) is not None


@periodic(name="staffpages.monitor", every=timedelta(seconds=settings.MONITOR_EVERY_SECONDS))
@task()
def monitor() -> list[str]:
    from echoshare.clinic.monitoring import monitor_run

    outcome = monitor_run()
    return outcome.opened + outcome.closed
