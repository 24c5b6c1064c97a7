from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImagingConfig(AppConfig):
    name = "echoshare.imaging"
    label = "imaging"
    verbose_name = _("Imaging")

    def ready(self) -> None:
        from echoshare.archive.signals import archived_files_deleted, derived_copies_sweep
        from echoshare.imaging import receivers

        # The render cache holds copies of archived images: they go with their source.
        archived_files_deleted.connect(
            receivers.remove_renders, dispatch_uid="echoshare.imaging.remove_renders"
        )
        derived_copies_sweep.connect(
            receivers.sweep_renders, dispatch_uid="echoshare.imaging.sweep_renders"
        )
