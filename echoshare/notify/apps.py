from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "echoshare.notify"
    label = "notify"
    verbose_name = "Messages"

    def ready(self) -> None:
        from echoshare.notify import checks  # noqa: F401 - registers the system checks
