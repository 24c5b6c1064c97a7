from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffPagesConfig(AppConfig):
    name = "echoshare.clinic.staff"
    label = "staffpages"
    verbose_name = _("Staff pages")

    def ready(self) -> None:
        from echoshare.archive.signals import archived_files_deleted, derived_copies_sweep
        from echoshare.clinic.staff import receivers

        # Staff thumbnails are unmasked copies of archived images: they go with their source.
        archived_files_deleted.connect(
            receivers.remove_thumbnails, dispatch_uid="echoshare.staffpages.remove_thumbnails"
        )
        derived_copies_sweep.connect(
            receivers.sweep_thumbnails, dispatch_uid="echoshare.staffpages.sweep_thumbnails"
        )
