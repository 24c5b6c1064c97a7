from django.apps import AppConfig


class StaffPagesConfig(AppConfig):
    name = "echoshare.clinic.staff"
    label = "staffpages"
    verbose_name = "staff pages"
