from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "echoshare.portal"
    label = "portal"

    def ready(self) -> None:
        from echoshare.portal import checks  # noqa: F401 - registers the system checks
