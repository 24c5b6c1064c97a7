from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "echoshare.core"
    label = "core"
    verbose_name = "echoshare core"

    def ready(self) -> None:
        from echoshare.core import checks  # noqa: F401 - registers the system checks
