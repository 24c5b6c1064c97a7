from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "echoshare.archive"
    label = "archive"
