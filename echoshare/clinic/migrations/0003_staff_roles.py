"""The staff roles as groups (docs/roles.md). Their permissions are set by roles_sync after
every migrate (post_migrate), once all apps' permissions exist."""

from django.db import migrations

ROLES = ("sonographer", "frontdesk", "administrator")


def create_roles(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for role in ROLES:
        group_model.objects.get_or_create(name=role)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0002_staffaction_loginthrottle_apitoken"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
