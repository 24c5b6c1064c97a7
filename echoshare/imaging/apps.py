from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "echoshare.imaging"
    label = "imaging"
