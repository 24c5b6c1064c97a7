from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "echoshare.jobs"
    label = "jobs"
    verbose_name = "background jobs"

    def ready(self) -> None:
        from echoshare.jobs import checks  # noqa: F401 - registers the system checks
