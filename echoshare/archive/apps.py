from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ArchiveConfig(AppConfig):
    name = "echoshare.archive"
    label = "archive"
    verbose_name = _("Archive")

    def ready(self) -> None:
        from echoshare.archive import checks  # noqa: F401 - registers the system checks
