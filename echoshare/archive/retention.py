"""The only two ways archived data is deleted (E5):

- purge after `retain_until` (`echoshare archive purge`), and
- destruction on the patient's request (WGBO 7:455): asked by one staff member, approved by
  another, executed by the scheduler (`archive.destruction` job).

Both delete rows inside `deletion_allowed(...)` with the audit record in the same
transaction, and remove the files only after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from echoshare.archive import storage
from echoshare.archive.models import (
    DestructionRequest,
    InstanceFile,
    Study,
    deletion_allowed,
    study_patient_ref,
)
from echoshare.audit import events
from echoshare.audit.services import audit_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)


class DestructionRefused(Exception):
    """A destruction step that the rules do not allow (same person, wrong state ...)."""


def _remove_files_after_commit(relative_paths: Iterable[str]) -> None:
    paths = list(relative_paths)

    def remove() -> None:
        for relative in paths:
            try:
                storage.absolute(relative).unlink(missing_ok=True)
            except OSError as exc:  # left behind: `archive verify` reports it as unindexed
                log.error("could not remove archived file %s: %s", relative, exc)

    transaction.on_commit(remove)


def _delete_study(study: Study) -> int:
    """Delete a study's rows (inside the caller's transaction) and its files after commit."""
    paths = list(
        InstanceFile.objects.filter(instance__study=study).values_list("relative_path", flat=True)
    )
    with deletion_allowed([study.pk]):
        study.delete()
    _remove_files_after_commit(paths)
    return len(paths)


def destruction_request(*, study: Study, requested_by: User, reason: str) -> DestructionRequest:
    """Record a patient's request to destroy a study; it waits for a second staff member."""
    if not reason.strip():
        raise DestructionRefused("a destruction request needs the reason (the patient's request)")
    with transaction.atomic():
        open_states = (DestructionRequest.Status.REQUESTED, DestructionRequest.Status.APPROVED)
        if DestructionRequest.objects.filter(study=study, status__in=open_states).exists():
            raise DestructionRefused("this study already has an open destruction request")
        request = DestructionRequest.objects.create(
            study=study,
            study_instance_uid=study.study_instance_uid,
            reason=reason.strip(),
            requested_by=requested_by,
            requested_at=timezone.now(),
        )
        audit_record(
            event=events.ARCHIVE_DESTRUCTION_REQUESTED,
            user=requested_by,
            patient_ref=study_patient_ref(study),
            object_ref=f"destruction:{request.key}",
            detail=reason.strip(),
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
            patient_ref=study_patient_ref(request.study) if request.study else "",
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
            patient_ref=study_patient_ref(request.study) if request.study else "",
            object_ref=f"destruction:{request.key}",
            source="web",
        )
    return request


def destructions_execute() -> int:
    """Run every approved destruction (the scheduler's job); returns how many ran."""
    done = 0
    pending = DestructionRequest.objects.filter(status=DestructionRequest.Status.APPROVED)
    for request_id in pending.values_list("pk", flat=True):
        with transaction.atomic():
            request = DestructionRequest.objects.select_for_update().get(pk=request_id)
            if request.status != DestructionRequest.Status.APPROVED:
                continue  # another scheduler run got it first
            study = request.study
            patient_ref = study_patient_ref(study) if study else ""
            files = _delete_study(study) if study else 0
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
                detail=f"{files} file(s) of study {request.study_instance_uid} destroyed",
                source="scheduler",
            )
        done += 1
    return done


@dataclass
class PurgeReport:
    studies: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0


def archive_purge(*, today: date | None = None, dry_run: bool, user: Any = None) -> PurgeReport:
    """Remove studies whose retain_until has passed (or list them with dry_run)."""
    today = today or timezone.localdate()
    report = PurgeReport()
    for study_id in Study.objects.past_retention(today).values_list("pk", flat=True):
        with transaction.atomic():
            study = Study.objects.select_for_update().filter(pk=study_id).first()
            if study is None or study.retain_until >= today:
                continue
            row: dict[str, Any] = {
                "study": study.key,
                "retain_until": study.retain_until.isoformat(),
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
    return report
