from django.apps import AppConfig


class DicomnetConfig(AppConfig):
    name = "echoshare.dicomnet"
    label = "dicomnet"
    verbose_name = "echoshare DICOM services"

    def ready(self) -> None:
        from echoshare.dicomnet import checks  # noqa: F401 - registers the system checks
