"""Patients and their appointments: where personal data enters echoshare (clinic tier only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from echoshare.archive.models import add_years
from echoshare.lib.dicom_uid import new_uid
from echoshare.lib.secrets import new_token


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
        verbose_name = _("patient")
        verbose_name_plural = _("patients")

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

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("patient")
    )
    scheduled_at = models.DateTimeField(_("date and time"))
    exam_type = models.CharField(_("exam type"), max_length=128)
    modality = models.CharField(max_length=16, default="US")
    station_ae_title = models.CharField(_("station AE title"), max_length=16, blank=True)
    accession_number = models.CharField(_("accession number"), max_length=16, unique=True)
    study_instance_uid = models.CharField(max_length=64, unique=True, default=new_uid)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Publishing (issue 6, docs/publishing.md): the patient's password as an argon2id hash, and
    # sealed (encrypted) while it must be resendable; a hold stops every publication.
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    password_sealed = models.TextField(blank=True, editable=False)
    on_hold = models.BooleanField(_("on hold"), default=False)
    hold_reason = models.CharField(_("reason for the hold"), max_length=200, blank=True)
    hold_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    hold_at = models.DateTimeField(null=True, blank=True, editable=False)
    contact_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["scheduled_at"]
        indexes = [models.Index(fields=["scheduled_at"])]
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")

    def __str__(self) -> str:
        return f"{self.accession_number} {self.scheduled_at:%Y-%m-%d %H:%M}"


class StaffAction(models.Model):
    """No table: holds the staff permissions that belong to no single model (docs/roles.md).

    Checked as "clinic.<codename>", e.g. `staff_required("clinic.upload_dicom")`.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("import_appointments", "Import appointments from a CSV file"),
            ("view_study", "View studies and their images"),
            ("upload_dicom", "Upload DICOM files through the web"),
            ("select_images", "Choose the images a patient gets"),
            ("publish_share", "Publish images to the patient portal"),
            ("resend_link", "Send a patient's link again"),
            ("export_study", "Export a study's DICOM files"),
            ("request_destruction", "Ask for destruction of archived files (WGBO 7:455)"),
            ("approve_destruction", "Approve another staff member's destruction request"),
            ("view_archive_report", "See archive verification results"),
            ("manage_staff", "Create staff accounts and reset their second factor"),
        ]

    def __str__(self) -> str:
        return "staff action"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A booking system's key for /staff/api/v1/: only its keyed hash is stored."""

    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("first characters"), max_length=8, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        editable=False,
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("booking API token")
        verbose_name_plural = _("booking API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class LoginThrottle(models.Model):
    """Consecutive failed logins per user name, and until when the name is locked out."""

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.username}: {self.failures} failures"

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


# --- Selection and publishing (issue 6, docs/publishing.md) ------------------------------------


class SelectedItem(models.Model):
    """One archived instance a patient gets, in the order staff chose, with its staff settings."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="selected_items"
    )
    # CASCADE: the archive's lawful deletions (retention purge, destruction on request) must
    # never be blocked by a selection; the item just disappears with its image.
    # Exactly one of `instance` (archived DICOM) and `media` (exported JPEG/PNG/MP4) is set.
    instance = models.ForeignKey(
        "archive.Instance",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="selections",
    )
    media = models.ForeignKey(
        "clinic.ExportedMedia",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="selections",
    )
    position = models.PositiveIntegerField(default=0)
    # 0-based poster/still frame of a clip chosen by staff; None: the renderer's choice.
    frame = models.PositiveIntegerField(null=True, blank=True)
    # Staff crop [x0, y0, x1, y1] (corners included) or None.
    crop = models.JSONField(null=True, blank=True)
    # Last render/preview outcome: "" (not yet), "regions", "device_rule", "staff_crop",
    # "needs_review"; with the reason staff read.
    branch = models.CharField(max_length=16, blank=True)
    review_reason = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["appointment", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "instance"], name="clinic_selected_once"
            ),
            models.UniqueConstraint(
                fields=["appointment", "media"], name="clinic_media_selected_once"
            ),
            models.CheckConstraint(
                condition=models.Q(instance__isnull=False, media__isnull=True)
                | models.Q(instance__isnull=True, media__isnull=False),
                name="clinic_selected_instance_or_media",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.position + 1} of {self.appointment}"

    @property
    def needs_review(self) -> bool:
        return self.branch == "needs_review"

    @property
    def key(self) -> str:
        """The random key of the image: the instance's or the exported media's."""
        return self.media.key if self.media_id else self.instance.key  # type: ignore[union-attr]


class PublicationQuerySet(models.QuerySet["Publication"]):
    def open(self) -> PublicationQuerySet:
        """Publications whose share may still be reached (or is being made)."""
        return self.filter(state__in=Publication.OPEN_STATES)


class Publication(models.Model):
    """The clinic's record of one share on the portal: how it was made and how it stands."""

    class State(models.TextChoices):
        QUEUED = "queued", _("waiting to be published")
        FAILED = "failed", _("publishing failed")
        SENT = "sent", _("sent")
        OPENED = "opened", _("opened")
        DOWNLOADED = "downloaded", _("downloaded")
        DELETED = "deleted_by_patient", _("deleted by the patient")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", _("revoked")

    OPEN_STATES = (State.QUEUED, State.SENT, State.OPENED, State.DOWNLOADED)
    ENDED_STATES = (State.DELETED, State.EXPIRED, State.REVOKED)

    key = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="publications"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Made before the first POST and replayed by every retry: one share, one link (H2).
    idempotency_key = models.CharField(max_length=64, unique=True, editable=False)
    portal_share_id = models.CharField(max_length=64, blank=True, editable=False)
    # What the first attempt sent (manifest with the hashes and expiry, and which items with
    # which frame and crop): every retry sends the very same request, so the portal replays.
    request = models.JSONField(default=dict, blank=True, editable=False)
    # {"link": ..., "delete_code": ...} encrypted; emptied once the share has ended.
    secrets_sealed = models.TextField(blank=True, editable=False)
    expires_at = models.DateTimeField()
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=20, blank=True)  # the portal's share state
    last_status_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    deleted_by_patient_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    items = models.PositiveIntegerField(default=0)

    objects = PublicationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"share {self.key[:8]} of {self.appointment}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def has_ended(self) -> bool:
        return self.state in self.ENDED_STATES


class PortalEventCursor(models.Model):
    """Where the status pull continues in the portal's clinic-wide event feed."""

    name = models.CharField(max_length=32, unique=True, default="events")
    after = models.CharField(max_length=200, blank=True)
    pulled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"portal events after {self.after or 'the start'}"


class ExportedMediaQuerySet(models.QuerySet["ExportedMedia"]):
    def past_retention(self, today: date) -> ExportedMediaQuerySet:
        """Past their own retain_until; the exam may keep them longer (archive purge decides)."""
        return self.filter(retain_until__lt=today)


class ExportedMedia(models.Model):
    """A JPEG, PNG or MP4 a machine exported (to USB) and staff uploaded onto an exam.

    Medical data of the exam like an archived DICOM: kept as uploaded (hashed, durable) under
    ARCHIVE_DIR/exported/ for the archive's retention, never handed out as it is; patients get
    it re-encoded from its pixels (docs/publishing.md). PROTECT: an exam with uploaded media
    cannot be deleted by accident. Like archived rows, these are deleted only by the archive's
    purge and destruction on request (echoshare.archive.models.deletion_allowed).
    """

    class Kind(models.TextChoices):
        JPEG = "jpeg", "JPEG"
        PNG = "png", "PNG"
        MP4 = "mp4", "MP4"

    key = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="exported_media"
    )
    kind = models.CharField(max_length=4, choices=Kind.choices)
    # Relative to ARCHIVE_DIR; the name is made here, never taken from the upload.
    relative_path = models.CharField(max_length=200, unique=True, editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    size = models.PositiveBigIntegerField(editable=False)
    columns = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False)
    # This item's own retention (docs/archive.md): set once when the row is made. The exam's
    # archived data (its studies and exported media) is purged as one, after the latest
    # retain_until of all of it.
    retain_until = models.DateField(db_index=True, editable=False)

    objects = ExportedMediaQuerySet.as_manager()

    class Meta:
        ordering = ["appointment", "uploaded_at", "id"]
        verbose_name = _("exported media")
        verbose_name_plural = _("exported media")
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "sha256"], name="clinic_exported_media_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key[:8]} of {self.appointment}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Filled here rather than by each caller, so that no way of making a row (the upload,
        # a restore script, a test) can leave the retention unset.
        if self.retain_until is None:
            self.retain_until = self.compute_retain_until()
        super().save(*args, **kwargs)

    @property
    def is_clip(self) -> bool:
        return self.kind == self.Kind.MP4

    def compute_retain_until(self) -> date:
        """Exam date or upload (whichever is later) + RETENTION_YEARS: the rule of a study
        (exam date or last change), with the upload as this item's change (WGBO 7:454)."""
        exam_day = timezone.localdate(self.appointment.scheduled_at)
        uploaded_day = timezone.localdate(self.uploaded_at)
        return add_years(max(exam_day, uploaded_day), settings.RETENTION_YEARS)
