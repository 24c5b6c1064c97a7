"""The only two ways archived data is deleted (E5):

- purge after `retain_until` (`echoshare archive purge`), and
- destruction on the patient's request (WGBO 7:455): asked by one staff member, approved by
  another, executed by the scheduler (`archive.destruction` job).

Both cover the exported JPEG/PNG/MP4 staff uploaded onto an exam (`clinic.ExportedMedia`,
files under ARCHIVE_DIR/exported/) as well as the DICOM studies: they are the same record.
Both delete rows inside `deletion_allowed(...)` with the audit record in the same
transaction, and remove the files only after the commit; then `archived_files_deleted` tells
the apps that made copies of those files (staff thumbnails, the render cache) to remove them.

Retention is per exam (docs/archive.md): an exam's studies and exported media are purged
together once the latest `retain_until` among them has passed; a study that matched no
appointment is its own exam.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from echoshare.archive import signals, storage
from echoshare.archive.models import (
    DestructionRequest,
    InstanceFile,
    Study,
    deletion_allowed,
    study_patient_ref,
)
from echoshare.audit import events
from echoshare.audit.services import audit_record

# The archive may use the clinic's models (no import-linter contract forbids it, and a study
# already points at clinic.Appointment): the ORM keeps the guard, the cascades to selections
# and the locks that raw SQL would bypass. backup.py reads its file list with SQL only
# because it must read the *copy* of the database, not because of a layering rule.
from echoshare.clinic.models import ExportedMedia
from echoshare.clinic.publishing import exam_shares_revoke_later

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from echoshare.clinic.models import Appointment

log = logging.getLogger(__name__)


class DestructionRefused(Exception):
    """A destruction step that the rules do not allow (same person, wrong state ...)."""


def _resolved(relative_paths: Iterable[str], resolve: Callable[[str], Path]) -> list[Path]:
    paths = []
    for relative in relative_paths:
        try:
            paths.append(resolve(relative))
        except ValueError:  # a tampered index row: never delete outside the archive
            log.error("index row names a path outside the archive, not removed: %s", relative)
    return paths


def _remove_files_after_commit(paths: list[Path], sha256s: set[str]) -> None:
    """After the commit: remove the archived files, then every copy derived from them."""

    def remove() -> None:
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # left behind: `archive verify` reports it as unindexed
                log.error("could not remove archived file %s: %s", path, exc)
        _remove_derived_copies(sha256s)

    transaction.on_commit(remove)


def _remove_derived_copies(sha256s: set[str]) -> None:
    """Send `archived_files_deleted` for the deleted files no archived file still has.

    Never raises: the rows and files are gone already. What a receiver fails to remove (or
    a job writes while this runs) is removed by the `derived_copies_sweep` of the next
    `archive verify` (fixity.py), which compares every derived copy with the whole index.
    """
    try:
        # Identical bytes can be archived twice only as exported media (the same file
        # uploaded onto two exams): their copies are shared and stay. A DICOM file's bytes
        # hold its SOP Instance UID, so no other instance has them. The table is small.
        shared = set(
            ExportedMedia.objects.filter(sha256__in=sha256s).values_list("sha256", flat=True)
        )
    except DatabaseError as exc:  # remove them all: a shared copy is simply made again
        log.error("could not check for shared copies, removing all: %s", exc)
        shared = set()
    gone = frozenset(sha256s - shared)
    if not gone:
        return
    responses = signals.archived_files_deleted.send_robust(sender=Study, sha256s=gone)
    for receiver, outcome in responses:
        if isinstance(outcome, Exception):
            log.error(
                "%s failed to remove copies of deleted archived files (archive verify will): %s",
                getattr(receiver, "__qualname__", receiver),
                outcome,
                exc_info=outcome,
            )


def _delete_study(study: Study) -> int:
    """Delete a study's rows (inside the caller's transaction) and its files after commit."""
    rows = list(
        InstanceFile.objects.filter(instance__study=study).values_list("relative_path", "sha256")
    )
    paths = _resolved([relative for relative, _ in rows], storage.absolute)
    with deletion_allowed([study.pk]):
        study.delete()
    _remove_files_after_commit(paths, {sha256 for _, sha256 in rows})
    return len(rows)


def _delete_media(media: list[ExportedMedia]) -> int:
    """Delete exported media rows (inside the caller's transaction; their selections go with
    them) and their files after commit."""
    if not media:
        return 0
    paths = _resolved([m.relative_path for m in media], storage.exported_absolute)
    ids = [m.pk for m in media]
    with deletion_allowed([], media_ids=ids):
        ExportedMedia.objects.filter(pk__in=ids).delete()
    _remove_files_after_commit(paths, {m.sha256 for m in media})
    return len(media)


def _locked_media_of(appointment_id: int | None) -> list[ExportedMedia]:
    if appointment_id is None:
        return []
    return list(
        ExportedMedia.objects.select_for_update()
        .filter(appointment_id=appointment_id)
        .order_by("pk")
    )


# --- Destruction on request -------------------------------------------------------------------


def _open_requests() -> QuerySet[DestructionRequest]:
    open_states = (DestructionRequest.Status.REQUESTED, DestructionRequest.Status.APPROVED)
    return DestructionRequest.objects.filter(status__in=open_states)


def _request_patient_ref(request: DestructionRequest) -> str:
    if request.study is not None:
        return study_patient_ref(request.study)
    if request.appointment is not None:
        return request.appointment.patient.patient_id
    return ""


def _exam_holds_archived_data(appointment: Appointment) -> bool:
    return (
        Study.objects.filter(appointment=appointment).exists()
        or ExportedMedia.objects.filter(appointment=appointment).exists()
    )


def destruction_request_refusal(
    *, study: Study | None, appointment: Appointment | None, reason: str
) -> str:
    """Why a request for this study or exam would be refused, or "" (the admin form shows it)."""
    if (study is None) == (appointment is None):
        return "name either a study or an exam to destroy, not both"
    if not reason.strip():
        return "a destruction request needs the reason (the patient's request)"
    if study is not None and _open_requests().filter(study=study).exists():
        return "this study already has an open destruction request"
    if appointment is not None:
        if _open_requests().filter(appointment=appointment).exists():
            return "this exam already has an open destruction request"
        if not _exam_holds_archived_data(appointment):
            return f"exam {appointment.accession_number} has no archived images or exported media"
    return ""


def destruction_request(
    *,
    study: Study | None = None,
    appointment: Appointment | None = None,
    requested_by: User,
    reason: str,
) -> DestructionRequest:
    """Record a patient's request to destroy a study or a whole exam (`appointment`); it waits
    for a second staff member.

    A study takes the exported media of its exam along; an exam takes every study linked to
    it and all its exported media (so an exam with only exported media can be destroyed too).
    """
    with transaction.atomic():
        problem = destruction_request_refusal(study=study, appointment=appointment, reason=reason)
        if problem:
            raise DestructionRefused(problem)
        exam = appointment if appointment is not None else (study.appointment if study else None)
        request = DestructionRequest.objects.create(
            study=study,
            appointment=appointment,
            study_instance_uid=study.study_instance_uid if study else "",
            accession_number=exam.accession_number if exam else "",
            reason=reason.strip(),
            requested_by=requested_by,
            requested_at=timezone.now(),
        )
        audit_record(
            event=events.ARCHIVE_DESTRUCTION_REQUESTED,
            user=requested_by,
            patient_ref=_request_patient_ref(request),
            object_ref=f"destruction:{request.key}",
            detail=f"{request.target}: {reason.strip()}",
            source="web",
        )
    return request


def destruction_approve(*, request: DestructionRequest, approved_by: User) -> DestructionRequest:
    """Approve a request; it must be a different staff member than the one who asked."""
    with transaction.atomic():
        request = DestructionRequest.objects.select_for_update().get(pk=request.pk)
        problem = ""
        if request.status != DestructionRequest.Status.REQUESTED:
            problem = f"the request is {request.status}, not waiting for approval"
        elif request.requested_by_id == approved_by.pk:
            problem = "the person who asked for a destruction cannot also approve it"
        if not problem:
            request.status = DestructionRequest.Status.APPROVED
            request.approved_by = approved_by
            request.approved_at = timezone.now()
            request.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(
            event=events.ARCHIVE_DESTRUCTION_APPROVED,
            outcome=events.DENIED if problem else events.SUCCESS,
            user=approved_by,
            responsible_user=request.requested_by,
            patient_ref=_request_patient_ref(request),
            object_ref=f"destruction:{request.key}",
            detail=problem,
            source="web",
        )
    if problem:
        raise DestructionRefused(problem)
    return request


def destruction_reject(*, request: DestructionRequest, rejected_by: User) -> DestructionRequest:
    with transaction.atomic():
        request = DestructionRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != DestructionRequest.Status.REQUESTED:
            raise DestructionRefused(f"the request is {request.status}, not waiting for approval")
        request.status = DestructionRequest.Status.REJECTED
        request.save(update_fields=["status"])
        audit_record(
            event=events.ARCHIVE_DESTRUCTION_REJECTED,
            user=rejected_by,
            responsible_user=request.requested_by,
            patient_ref=_request_patient_ref(request),
            object_ref=f"destruction:{request.key}",
            source="web",
        )
    return request


def _destroy(request: DestructionRequest) -> tuple[int, int]:
    """Delete what the request names (inside its transaction). -> (DICOM files, media files)"""
    if request.study is not None:
        exam_id = request.study.appointment_id
        files = _delete_study(request.study)
    elif request.appointment is not None:
        exam_id = request.appointment.pk
        studies = Study.objects.select_for_update().filter(appointment_id=exam_id).order_by("pk")
        files = sum(_delete_study(study) for study in studies)
    else:  # the study went before (purged): nothing is left to destroy
        return 0, 0
    if exam_id is not None:
        # The patient's copies on the portal stop being served too: revoked by a job after
        # the commit, so the portal can neither delay nor fail the destruction.
        exam_shares_revoke_later(appointment_id=exam_id, reason=f"destruction:{request.key}")
    return files, _delete_media(_locked_media_of(exam_id))


def destructions_execute() -> int:
    """Run every approved destruction (the scheduler's job); returns how many ran."""
    done = 0
    pending = DestructionRequest.objects.filter(status=DestructionRequest.Status.APPROVED)
    for request_id in pending.values_list("pk", flat=True):
        with transaction.atomic():
            request = DestructionRequest.objects.select_for_update().get(pk=request_id)
            if request.status != DestructionRequest.Status.APPROVED:
                continue  # another scheduler run got it first
            patient_ref = _request_patient_ref(request)
            files, media = _destroy(request)
            request.study = None  # SET_NULL by the delete; the UID stays on the request
            request.status = DestructionRequest.Status.EXECUTED
            request.executed_at = timezone.now()
            request.save(update_fields=["study", "status", "executed_at"])
            audit_record(
                event=events.ARCHIVE_DESTRUCTION_EXECUTED,
                user=request.approved_by,
                responsible_user=request.requested_by,
                patient_ref=patient_ref,
                object_ref=f"destruction:{request.key}",
                detail=f"{request.target}: {files} DICOM file(s) and {media} exported media "
                "file(s) destroyed",
                source="scheduler",
            )
        done += 1
    return done


# --- Purge after retention --------------------------------------------------------------------


@dataclass
class PurgeReport:
    # {"study": key, "exam": accession number or "", "retain_until": ISO date, "files": n}
    studies: list[dict[str, Any]] = field(default_factory=list)
    # {"media": key, "exam": accession number, "retain_until": ISO date}: one file each
    media: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0  # DICOM files of the studies


def archive_purge(*, today: date | None = None, dry_run: bool, user: Any = None) -> PurgeReport:
    """Remove the archived data whose retention has passed (or list it with dry_run): studies
    that matched no appointment by their own retain_until, exams (their studies and exported
    media together) by the latest retain_until of all they hold."""
    today = today or timezone.localdate()
    report = PurgeReport()
    unmatched = Study.objects.past_retention(today).unmatched().values_list("pk", flat=True)
    for study_id in list(unmatched):
        with transaction.atomic():
            study = (
                Study.objects.select_for_update()
                .filter(pk=study_id, appointment__isnull=True, retain_until__lt=today)
                .first()
            )
            if study is not None:  # else linked (its exam decides) or changed meanwhile
                _purge_study(study, study.retain_until, dry_run=dry_run, user=user, report=report)
    for appointment_id in sorted(_exams_past_retention(today)):
        with transaction.atomic():
            _purge_exam(appointment_id, today=today, dry_run=dry_run, user=user, report=report)
    return report


def _exams_past_retention(today: date) -> set[int]:
    """Exams holding at least one item past its own retain_until (candidates only)."""
    studies = Study.objects.past_retention(today).filter(appointment__isnull=False)
    media = ExportedMedia.objects.past_retention(today)
    return {
        *studies.values_list("appointment_id", flat=True),
        *media.values_list("appointment_id", flat=True),
    }


def _purge_exam(
    appointment_id: int, *, today: date, dry_run: bool, user: Any, report: PurgeReport
) -> None:
    studies = list(
        Study.objects.select_for_update().filter(appointment_id=appointment_id).order_by("pk")
    )
    media = _locked_media_of(appointment_id)
    dates = [study.retain_until for study in studies] + [item.retain_until for item in media]
    if not dates or max(dates) >= today:
        return  # something of the exam is still retained: the exam keeps all of it
    retained_until = max(dates)
    for study in studies:
        _purge_study(study, retained_until, dry_run=dry_run, user=user, report=report)
    for item in media:
        report.media.append(
            {
                "media": item.key,
                "exam": item.appointment.accession_number,
                "retain_until": retained_until.isoformat(),
            }
        )
        if not dry_run:
            audit_record(
                event=events.ARCHIVE_PURGED,
                user=user,
                patient_ref=item.appointment.patient.patient_id,
                object_ref=f"exported media {item.key}",
                detail=f"exam {item.appointment.accession_number} retained until "
                f"{retained_until.isoformat()}; 1 exported media file",
                source="cli",
            )
    if not dry_run:
        _delete_media(media)


def _purge_study(
    study: Study, retained_until: date, *, dry_run: bool, user: Any, report: PurgeReport
) -> None:
    row: dict[str, Any] = {
        "study": study.key,
        "exam": study.appointment.accession_number if study.appointment else "",
        "retain_until": retained_until.isoformat(),
    }
    if dry_run:
        row["files"] = InstanceFile.objects.filter(instance__study=study).count()
    else:
        patient_ref = study_patient_ref(study)
        row["files"] = _delete_study(study)
        audit_record(
            event=events.ARCHIVE_PURGED,
            user=user,
            patient_ref=patient_ref,
            object_ref=f"study:{row['study']}",
            detail=f"retained until {row['retain_until']}; {row['files']} file(s)",
            source="cli",
        )
    report.studies.append(row)
    report.files += row["files"]
