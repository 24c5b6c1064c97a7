from django.apps import AppConfig


class DicomnetConfig(AppConfig):
    name = "echoshare.dicomnet"
    label = "dicomnet"
