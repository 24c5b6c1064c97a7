from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "echoshare.portal"
    label = "portal"
