from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ClinicConfig(AppConfig):
    name = "echoshare.clinic"
    label = "clinic"
    verbose_name = _("Clinic")

    def ready(self) -> None:
        # After every migrate (and every test-database flush) the role groups get exactly the
        # permissions of roles.ROLE_PERMISSIONS, including those of apps migrated later.
        post_migrate.connect(_sync_roles, dispatch_uid="echoshare.clinic.roles_sync")

        from echoshare.archive.signals import instance_stored, study_linked
        from echoshare.clinic import receivers

        # The appointment's status follows its exam: the first image makes it examined.
        instance_stored.connect(
            receivers.examined_on_image, dispatch_uid="echoshare.clinic.examined_on_image"
        )
        study_linked.connect(
            receivers.examined_on_link, dispatch_uid="echoshare.clinic.examined_on_link"
        )


def _sync_roles(sender: AppConfig, **kwargs: object) -> None:
    from django.apps import apps

    from echoshare.clinic.roles import roles_sync

    # post_migrate is sent once per app; sync once, after the last app's permissions exist.
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if with_models and sender is with_models[-1]:
        roles_sync()
