from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "echoshare.imaging"
    label = "imaging"

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
