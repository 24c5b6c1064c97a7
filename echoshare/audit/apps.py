from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "echoshare.audit"
    label = "audit"
