"""The archive of original DICOM: studies, instances and the files that hold them.

Files are immutable: a re-sent instance with different bytes becomes a new `InstanceFile`
version beside the old one. Rows here, and the exported media staff upload onto exams
(`clinic.ExportedMedia`), are deleted only by the two paths that may delete archived data
(purge after `retain_until`, approved destruction on request); every other delete raises
`ArchiveDeletionRefused` (see `deletion_allowed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from echoshare.lib.secrets import new_token


def add_years(day: date, years: int) -> date:
    """`day` plus whole calendar years; 29 February becomes 28 February in common years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class StudyQuerySet(models.QuerySet["Study"]):
    def unmatched(self) -> StudyQuerySet:
        """Studies whose images matched no appointment: staff link them by hand."""
        return self.filter(appointment__isnull=True)

    def past_retention(self, today: date) -> StudyQuerySet:
        return self.filter(retain_until__lt=today)


class Study(models.Model):
    # Random identifier for URLs (never a database id or a DICOM UID in a URL).
    key = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    study_instance_uid = models.CharField(max_length=64, unique=True)
    # PROTECT: an appointment with archived images is not deleted; the study would lose
    # who it belongs to.
    appointment = models.ForeignKey(
        "clinic.Appointment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="studies",
    )
    # As received in the first instance: what staff need to link an unmatched study.
    patient_id = models.CharField(_("patient ID (as received)"), max_length=64, blank=True)
    patient_name = models.CharField(_("patient name (as received)"), max_length=200, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True, blank=True)
    study_description = models.CharField(max_length=128, blank=True)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    retain_until = models.DateField(db_index=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        ordering = ["-first_received_at"]

    def __str__(self) -> str:
        return f"study {self.study_date or '?'} {self.accession_number or self.key}"

    def compute_retain_until(self) -> date:
        """Exam date or last change (whichever is later) + RETENTION_YEARS (WGBO 7:454)."""
        last_change = self.last_received_at.date()
        base = max(self.study_date, last_change) if self.study_date else last_change
        return add_years(base, settings.RETENTION_YEARS)


def study_patient_ref(study: Study) -> str:
    """The patient reference of audit records: the appointment's patient ID, else as received."""
    if study.appointment_id is not None:
        return study.appointment.patient.patient_id  # type: ignore[union-attr]
    return study.patient_id


class Instance(models.Model):
    key = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instances")
    series_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    rows = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0)
    # Arrived on the patient AE title, or picked by staff: to be shared with the patient.
    selected_for_patient = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "series_instance_uid", "instance_number", "id"]
        verbose_name = _("instance")
        verbose_name_plural = _("instances")

    def __str__(self) -> str:
        return f"instance {self.key}"

    def current_file(self) -> InstanceFile | None:
        """The newest version: what rendering and export use."""
        return self.files.order_by("-version").first()


class InstanceFile(models.Model):
    """One stored version of an instance: the bytes exactly as received."""

    class Source(models.TextChoices):
        DICOM = "dicom", "DICOM network"
        WEB = "web", "web upload"
        IMPORT = "import", "import"

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="files")
    version = models.PositiveIntegerField()
    # Relative to ARCHIVE_DIR, generated by the server (F2), POSIX separators.
    relative_path = models.CharField(max_length=255, unique=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    transfer_syntax_uid = models.CharField(max_length=64)
    received_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices)
    calling_ae_title = models.CharField(max_length=16, blank=True)
    called_ae_title = models.CharField(max_length=16, blank=True)
    address = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["instance", "version"]
        constraints = [
            # E2: the same bytes of the same instance are stored once, even when two
            # associations race; different bytes get the next version number.
            models.UniqueConstraint(fields=["instance", "sha256"], name="archive_file_once"),
            models.UniqueConstraint(fields=["instance", "version"], name="archive_file_version"),
        ]

    def __str__(self) -> str:
        return f"{self.relative_path} (v{self.version})"


class FixityRun(models.Model):
    """The result of one `archive verify` (E3), kept so that admins see the last one."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unindexed = models.PositiveIntegerField(default=0)
    # [{"problem": "missing"|"changed"|"unindexed", "path": "files/..."}], first 1000.
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("fixity run")
        verbose_name_plural = _("fixity runs")

    def __str__(self) -> str:
        return f"fixity check {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def ok(self) -> bool:
        return self.finished_at is not None and not (self.missing or self.changed or self.unindexed)


class DestructionRequest(models.Model):
    """Destruction on the patient's request (WGBO 7:455), asked and approved by two staff members.

    It names either a study (that study, and the exported media of its exam) or an exam
    (every study linked to the appointment and all its exported media: also an exam that only
    has exported media). Whatever the exam holds when the scheduler executes it goes.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested, waiting for approval")
        APPROVED = "approved", _("approved, waiting for the scheduler")
        EXECUTED = "executed", _("executed")
        REJECTED = "rejected", _("rejected")

    key = models.CharField(max_length=32, unique=True, default=new_token, editable=False)
    study = models.ForeignKey(
        Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    appointment = models.ForeignKey(
        "clinic.Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept after the data is gone: what was destroyed (the study's UID, the exam's number).
    study_instance_uid = models.CharField(max_length=64, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("destruction request")
        verbose_name_plural = _("destruction requests")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(approved_by=models.F("requested_by")),
                name="archive_destruction_two_people",
            ),
            # A study or an exam, never both (after execution the study is gone: neither).
            models.CheckConstraint(
                condition=models.Q(study__isnull=True) | models.Q(appointment__isnull=True),
                name="archive_destruction_study_or_exam",
            ),
        ]

    def __str__(self) -> str:
        return f"destruction request {self.key} ({self.status})"

    @property
    def target(self) -> str:
        """What it destroys, in words for the audit record and the admin."""
        if self.accession_number and not self.study_instance_uid:
            return f"exam {self.accession_number}"
        return f"study {self.study_instance_uid}"


# --- The deletion guard (E5) ------------------------------------------------------------------


class ArchiveDeletionRefused(Exception):
    """Archived data (a study, instance, file or exported media) was about to be deleted
    outside purge/destruction."""


_deletable_studies: ContextVar[frozenset[int]] = ContextVar(
    "archive_deletable_studies", default=frozenset()
)
_deletable_media: ContextVar[frozenset[int]] = ContextVar(
    "archive_deletable_media", default=frozenset()
)


@contextlib.contextmanager
def deletion_allowed(study_ids: Iterable[int], media_ids: Iterable[int] = ()) -> Iterator[None]:
    """Allow deleting the rows of these studies and exported media (only purge and destruction
    call this)."""
    studies = _deletable_studies.set(frozenset(study_ids))
    media = _deletable_media.set(frozenset(media_ids))
    try:
        yield
    finally:
        _deletable_media.reset(media)
        _deletable_studies.reset(studies)


def _study_id_of(obj: Any) -> int | None:
    if isinstance(obj, Study):
        return obj.pk
    if isinstance(obj, Instance):
        return obj.study_id
    if isinstance(obj, InstanceFile):
        return (
            Instance.objects.filter(pk=obj.instance_id).values_list("study_id", flat=True).first()
        )
    return None


def _refuse(sender: type[models.Model], instance: Any) -> None:
    raise ArchiveDeletionRefused(
        f"{sender.__name__} {instance.pk}: archived data is deleted only after "
        "retain_until (archive purge) or by an approved destruction request"
    )


@receiver(pre_delete, sender=Study)
@receiver(pre_delete, sender=Instance)
@receiver(pre_delete, sender=InstanceFile)
def _refuse_early_deletion(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    # pre_delete runs for model.delete(), QuerySet.delete() and cascades alike, so this one
    # receiver covers the admin, the shell and any code that forgets the rules.
    if _study_id_of(instance) not in _deletable_studies.get():
        _refuse(sender, instance)


# Exported JPEG/PNG/MP4 (clinic app) are the exam's record as much as its DICOM, so the same
# guard holds them. The sender is named lazily: the archive's models import nothing of clinic.
@receiver(pre_delete, sender="clinic.ExportedMedia")
def _refuse_early_media_deletion(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    if instance.pk not in _deletable_media.get():
        _refuse(sender, instance)
