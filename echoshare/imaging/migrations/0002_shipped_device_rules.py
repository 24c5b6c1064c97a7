"""The shipped device rules: a starting point, inactive until an admin checks and enables them.

They were drawn on the sample images that come with pydicom, one image per machine and size.
A clinic's own machine may lay out its screen differently (software version, presets,
language), so each rule ships switched off: try it with `echoshare render` on the clinic's
own images, then tick "active" in the admin.
"""

from django.db import migrations

SHIPPED = [
    # manufacturer, model, columns, rows, crop box [x0, y0, x1, y1], note
    ("G.E. Medical Systems", "LOGIQ 700", 640, 480, [50, 108, 589, 339],
     "image area between the header text and the annotation line; colour bars cut off"),
    ("G.E. Medical Systems", "LOGIQ 700", 320, 240, [25, 54, 294, 169],
     "the 640x480 rule at half size"),
    ("SonoSite, Inc.", "Turbo", 320, 240, [45, 32, 284, 221],
     "sector only; menu bar, mode text and scale cut off"),
    ("Philips Medical Systems", "CX50", 800, 350, [120, 62, 775, 349],
     "below the title bar, right of the parameter column"),
]


def add_rules(apps, schema_editor):
    DeviceRule = apps.get_model("imaging", "DeviceRule")
    for manufacturer, model_name, columns, rows, crop, note in SHIPPED:
        DeviceRule.objects.get_or_create(
            manufacturer=manufacturer,
            model_name=model_name,
            columns=columns,
            rows=rows,
            created_by=None,
            defaults={
                "crop": crop,
                "note": "shipped, check before enabling: " + note,
                "active": False,
            },
        )


def remove_rules(apps, schema_editor):
    DeviceRule = apps.get_model("imaging", "DeviceRule")
    for manufacturer, model_name, columns, rows, _crop, _note in SHIPPED:
        DeviceRule.objects.filter(
            manufacturer=manufacturer, model_name=model_name, columns=columns, rows=rows,
            created_by=None, note__startswith="shipped",
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("imaging", "0001_initial")]
    operations = [migrations.RunPython(add_rules, remove_rules)]
