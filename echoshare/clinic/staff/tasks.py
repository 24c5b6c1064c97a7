"""Jobs of the staff pages: staff thumbnails, an item's preview and patient view, and the
system monitor (every minute)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django_tasks import task

from echoshare.jobs.periodic import periodic


@task()
def make_thumbnail(instance_key: str) -> bool:
    """Make an image's staff thumbnail. `instance_key` is the random key of an archived
    instance or of an uploaded JPEG/PNG/MP4 (whose thumbnail the data folder lost); the
    argument keeps its name so that jobs queued before uploads were handled still run."""
    from echoshare.archive.models import Instance
    from echoshare.clinic.models import ExportedMedia
    from echoshare.clinic.staff.thumbnails import media_thumbnail_make, thumbnail_make

    instance = Instance.objects.filter(key=instance_key).first()
    if instance is not None:
        return thumbnail_make(instance=instance) is not None
    media = ExportedMedia.objects.filter(key=instance_key).first()
    return media is not None and media_thumbnail_make(media=media) is not None


@task()
def make_item_view(item_id: int, view: str) -> bool:
    """Make a picked item's preview or patient view (H3: queued by the Exam page's image
    requests, never made in them)."""
    from echoshare.clinic.models import SelectedItem
    from echoshare.clinic.staff.item_views import item_view_make

    item = SelectedItem.objects.select_related("instance", "media").filter(pk=item_id).first()
    return item is not None and item_view_make(item=item, view=view)


@periodic(name="staffpages.monitor", every=timedelta(seconds=settings.MONITOR_EVERY_SECONDS))
@task()
def monitor() -> list[str]:
    from echoshare.clinic.monitoring import monitor_run

    outcome = monitor_run()
    return outcome.opened + outcome.closed
