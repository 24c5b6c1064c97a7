"""The DICOM listener's configuration, read once from settings into one typed value."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class AllowedCaller:
    """One entry of ECHOSHARE_DICOM_ALLOWED_CALLING_AES: an AE title, optionally pinned to an
    address ("US_ROOM1@192.168.1.20")."""

    ae_title: str
    address: str = ""

    @classmethod
    def parse(cls, text: str) -> AllowedCaller:
        ae_title, _, address = text.strip().partition("@")
        return cls(ae_title=ae_title.strip(), address=address.strip())

    def allows(self, calling_ae: str, address: str) -> bool:
        return calling_ae == self.ae_title and (not self.address or address == self.address)


@dataclass(frozen=True)
class DicomConfig:
    archive_ae: str
    patient_ae: str
    allowed_callers: tuple[AllowedCaller, ...]
    bind_address: str
    port: int
    idle_timeout: int
    acse_timeout: int
    dimse_timeout: int
    max_associations: int
    max_pdu: int

    @classmethod
    def from_settings(cls) -> DicomConfig:
        return cls(
            archive_ae=settings.DICOM_ARCHIVE_AE,
            patient_ae=settings.DICOM_PATIENT_AE,
            allowed_callers=tuple(
                AllowedCaller.parse(entry) for entry in settings.DICOM_ALLOWED_CALLING_AES
            ),
            bind_address=settings.DICOM_BIND_ADDRESS,
            port=settings.DICOM_PORT,
            idle_timeout=settings.DICOM_IDLE_TIMEOUT,
            acse_timeout=settings.DICOM_ACSE_TIMEOUT,
            dimse_timeout=settings.DICOM_DIMSE_TIMEOUT,
            max_associations=settings.DICOM_MAX_ASSOCIATIONS,
            max_pdu=settings.DICOM_MAX_PDU,
        )

    @property
    def called_ae_titles(self) -> tuple[str, str]:
        return (self.archive_ae, self.patient_ae)

    def refusal(self, *, called_ae: str, calling_ae: str, address: str) -> str | None:
        """Why an association request must be rejected (F3), or None to go on."""
        if called_ae not in self.called_ae_titles:
            return "called AE title not recognised"
        if self.allowed_callers and not any(
            caller.allows(calling_ae, address) for caller in self.allowed_callers
        ):
            return "calling AE title not recognised"
        return None
