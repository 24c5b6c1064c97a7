"""ExportedMedia.retain_until: rows uploaded before it existed get the same rule as new ones.

Nullable here and made NOT NULL in 0007, so that no table is altered in the transaction
that updated its rows (PostgreSQL refuses that while deferred constraint checks are pending).
"""

from datetime import date

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def _add_years(day: date, years: int) -> date:
    # Frozen copy of echoshare.archive.models.add_years: a migration must not change later.
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def fill_retain_until(apps, schema_editor):
    ExportedMedia = apps.get_model("clinic", "ExportedMedia")
    rows = ExportedMedia.objects.filter(retain_until__isnull=True).select_related("appointment")
    for media in rows.iterator():
        exam_day = timezone.localdate(media.appointment.scheduled_at)
        uploaded_day = timezone.localdate(media.uploaded_at)
        media.retain_until = _add_years(max(exam_day, uploaded_day), settings.RETENTION_YEARS)
        media.save(update_fields=["retain_until"])


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0005_exported_media"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportedmedia",
            name="retain_until",
            field=models.DateField(db_index=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_retain_until, migrations.RunPython.noop),
    ]
