"""Patients and their appointments: where personal data enters echoshare (clinic tier only)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from echoshare.lib.dicom_uid import new_uid


class Language(models.TextChoices):
    NL = "nl", "Nederlands"
    EN = "en", "English"


class Patient(models.Model):
    patient_id = models.CharField(_("patient ID"), max_length=64, unique=True)
    family_name = models.CharField(_("family name"), max_length=128)
    given_name = models.CharField(_("given name"), max_length=128, blank=True)
    birth_date = models.DateField(_("birth date"))
    sex = models.CharField(
        _("sex"), max_length=1, blank=True, choices=[("F", "F"), ("M", "M"), ("O", "O")]
    )
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.NL
    )
    consent_sms = models.BooleanField(_("images may be sent by SMS"), default=False)
    consent_email = models.BooleanField(_("images may be sent by e-mail"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.patient_id})"

    @property
    def dicom_name(self) -> str:
        """PatientName in DICOM PN form: Family^Given."""
        return f"{self.family_name}^{self.given_name}" if self.given_name else self.family_name


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", _("booked")
        ARRIVED = "arrived", _("arrived")
        EXAMINED = "examined", _("examined")
        CANCELLED = "cancelled", _("cancelled")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    scheduled_at = models.DateTimeField(_("date and time"))
    exam_type = models.CharField(_("exam type"), max_length=128)
    modality = models.CharField(max_length=16, default="US")
    station_ae_title = models.CharField(_("station AE title"), max_length=16, blank=True)
    accession_number = models.CharField(_("accession number"), max_length=16, unique=True)
    study_instance_uid = models.CharField(max_length=64, unique=True, default=new_uid)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_at"]
        indexes = [models.Index(fields=["scheduled_at"])]

    def __str__(self) -> str:
        return f"{self.accession_number} {self.scheduled_at:%Y-%m-%d %H:%M}"
