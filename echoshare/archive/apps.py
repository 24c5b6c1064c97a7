from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "echoshare.archive"
    label = "archive"

    def ready(self) -> None:
        from echoshare.archive import checks  # noqa: F401 - registers the system checks
