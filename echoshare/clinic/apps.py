from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "echoshare.clinic"
    label = "clinic"
