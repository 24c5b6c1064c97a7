from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "echoshare.notify"
    label = "notify"
