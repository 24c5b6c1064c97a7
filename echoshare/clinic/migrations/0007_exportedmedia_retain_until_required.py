from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0006_exportedmedia_retain_until"),
    ]

    operations = [
        migrations.AlterField(
            model_name="exportedmedia",
            name="retain_until",
            field=models.DateField(db_index=True, editable=False),
        ),
    ]
