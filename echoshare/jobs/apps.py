from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "echoshare.jobs"
    label = "jobs"
