"""The archive's writes: one ingest function for every source (CONVENTIONS 5), linking,
destruction on request, purge and export.

`instance_store` is what the DICOM C-STORE handler, the staff web upload and any import call.
It answers only after the file is durable and its index row committed (E1), stores a re-sent
identical instance once (E2) and refuses bad input with a DIMSE status (F1).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info

from echoshare.archive import storage
from echoshare.archive.errors import OUT_OF_RESOURCES, IngestRefused
from echoshare.archive.header import InstanceHeader, header_read
from echoshare.archive.linking import appointment_for
from echoshare.archive.models import Instance, InstanceFile, Study, study_patient_ref
from echoshare.archive.signals import instance_stored, study_linked
from echoshare.audit import events
from echoshare.audit.services import audit_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from echoshare.clinic.models import Appointment

__all__ = [
    "IngestOrigin",
    "IngestRefused",
    "IngestResult",
    "Written",
    "archive_temp_write",
    "archive_temp_write_dataset",
    "archive_tmp_dir",
    "instance_store",
    "study_link",
]

log = logging.getLogger(__name__)
_INDEX_ATTEMPTS = 5
RELINK_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class IngestOrigin:
    source: str  # "dicom", "web", "import"
    calling_ae: str = ""
    called_ae: str = ""
    address: str = ""
    user_id: int | None = None
    for_patient: bool = False  # arrived on the patient AE title: mark selected for the patient

    def describe(self) -> str:
        """The audit record's `source`: "dicom:CALLING_AE@address", "web", ..."""
        if self.source == InstanceFile.Source.DICOM:
            return f"dicom:{self.calling_ae}@{self.address}"
        return self.source


@dataclass(frozen=True)
class IngestResult:
    instance: Instance
    created: bool  # False when an identical copy was already archived


def archive_tmp_dir() -> Path:
    """A temp folder on the archive's filesystem (so that rename into place is atomic)."""
    return storage.tmp_dir()


def archive_temp_write(*, chunks: Iterable[bytes]) -> Path:
    """Write a complete Part 10 file given in pieces to a new file in archive_tmp_dir()."""
    path = storage.new_temp_path(".dcm")
    try:
        with path.open("xb") as out:
            for chunk in chunks:
                out.write(chunk)
    except BaseException:
        storage.remove_quietly(path)
        raise
    return path


def archive_temp_write_dataset(
    *, file_meta: FileMetaDataset, encoded_dataset: bytes | BinaryIO
) -> Path:
    """Write preamble + File Meta + the dataset's bytes as received (not re-encoded) to a
    new file in archive_tmp_dir(), for `instance_store(path=..., move=True)`."""
    path = storage.new_temp_path(".dcm")
    try:
        with path.open("xb") as out:
            out.write(b"\0" * 128 + b"DICM")
            write_file_meta_info(out, file_meta, enforce_standard=True)  # type: ignore[arg-type]
            if isinstance(encoded_dataset, bytes | bytearray | memoryview):
                out.write(encoded_dataset)
            else:
                while chunk := encoded_dataset.read(storage.CHUNK):
                    out.write(chunk)
    except BaseException:
        storage.remove_quietly(path)
        raise
    return path


def instance_store(
    *, path: Path, origin: IngestOrigin, move: bool = False, written: Written | None = None
) -> IngestResult:
    """Archive the DICOM Part 10 file at `path` durably and index it; see the module doc.

    With `move=True` the file is consumed: renamed into place when it lies in
    archive_tmp_dir() (copied otherwise), and removed whatever the outcome. `written` is
    the SHA-256 and size of the bytes as they were written to such a file (the DICOM
    listener's spool): it is then fsynced, not read back; a size that differs is hashed.
    Raises IngestRefused (bad input: its DIMSE status; no room or no database: 0xA700).
    """
    try:
        header, ahead, (temp, sha256, size) = _read_and_stage(path, move=move, written=written)
    except OSError as exc:  # unreadable source, full tmp folder ...
        if move:
            storage.remove_quietly(path)
        raise _no_room(exc) from exc
    except BaseException:
        if move:
            storage.remove_quietly(path)
        raise
    try:
        return _store_staged(header, ahead, temp, sha256, size, origin)
    finally:
        storage.remove_quietly(temp)  # gone already when it was placed


@dataclass(frozen=True)
class Written:
    sha256: str
    size: int


def _read_and_stage(
    path: Path, *, move: bool, written: Written | None
) -> tuple[InstanceHeader, _Lookup | None, tuple[Path, str, int]]:
    """The checked header, the index reads it allows, and the file staged: fsynced in the
    archive's tmp folder, hashed.

    A spooled C-STORE (already in the tmp folder) is hashed and fsynced by a helper thread
    while this one parses the header and asks the index: hashing and fsync run in C and on
    the disk without the GIL, the rest in Python, and a sending machine waits for all of it
    before it sends its next image. The caller removes the file only after the helper is
    done with it.
    """
    if not (move and path.resolve().parent == archive_tmp_dir().resolve()):
        return header_read(path), None, _stage(path, move=move)
    if written is not None:
        staged = _staging_pool().submit(_sync_written, path, written)
    else:
        staged = _staging_pool().submit(storage.hash_and_sync, path)
    try:
        header = header_read(path)
        ahead = _look_up(header)
    finally:
        wait([staged])
    sha256, size = staged.result()
    return header, ahead, (path, sha256, size)


def _sync_written(path: Path, written: Written) -> tuple[str, int]:
    if storage.sync_and_size(path) == written.size:
        return written.sha256, written.size
    log.warning("a spooled file's size differs from what was written to it: hashing it")
    return storage.hash_and_sync(path)


@dataclass(frozen=True)
class _Lookup:
    """What the index says of an instance's header, read before its transaction.

    The transaction trusts it for its first attempt only: a parallel writer that changed
    the answer meanwhile makes an INSERT fail (unique UIDs), and the retry reads again.
    """

    known: Instance | None
    study_absent: bool  # False: the transaction reads (and updates) the study itself
    appointment: Appointment | None = None  # what a study not archived yet matches


# Both questions in one statement of the unique indexes: nearly every image is a new
# instance, and its study is new for the first image of an exam.
_PROBE_SQL = """
SELECT (SELECT 1 FROM archive_instance WHERE sop_instance_uid = %s),
       (SELECT 1 FROM archive_study WHERE study_instance_uid = %s)
"""


def _look_up(header: InstanceHeader) -> _Lookup | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(_PROBE_SQL, [header.sop_instance_uid, header.study_instance_uid])
            instance_known, study_known = cursor.fetchone()
        known = _instance_loaded(header.sop_instance_uid) if instance_known else None
        if study_known:
            return _Lookup(known, study_absent=False)
        return _Lookup(known, study_absent=True, appointment=_appointment_for(header))
    except DatabaseError:
        return None  # the transaction's own reads report it with the right status


@cache
def _staging_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="archive-staging")


def _stage(path: Path, *, move: bool) -> tuple[Path, str, int]:
    """A fsynced private copy in the archive's tmp folder, with its hash and size."""
    with path.open("rb") as source:
        staged = storage.stream_to_temp(source)
    if move:
        storage.remove_quietly(path)
    return staged


def _store_staged(
    header: InstanceHeader,
    ahead: _Lookup | None,
    temp: Path,
    sha256: str,
    size: int,
    origin: IngestOrigin,
) -> IngestResult:
    for attempt in range(_INDEX_ATTEMPTS):
        if attempt:
            ahead = None  # what was read before may be what made the last attempt fail
        try:
            known = ahead.known if ahead else _known_instance(header.sop_instance_uid)
            duplicate = None if known is None else _identical_copy(known, sha256, origin)
        except DatabaseError as exc:
            raise _no_database(exc) from exc
        if duplicate is not None:
            return duplicate
        now = timezone.now()
        relative = storage.new_relative_path(now)
        try:
            final = storage.place(temp, relative)
        except OSError as exc:
            raise _no_room(exc) from exc
        try:
            return _index(header, known, ahead, str(relative), sha256, size, origin, now)
        except IntegrityError:
            # A parallel association indexed the same instance (or study) first (E2): take
            # the file back to tmp and look again; the next round finds the identical copy
            # or takes the next version number.
            _take_back(final, temp)
        except DatabaseError as exc:
            storage.remove_quietly(final)
            raise _no_database(exc) from exc
        except BaseException:
            storage.remove_quietly(final)
            raise
    raise IngestRefused(OUT_OF_RESOURCES, "archive busy: too many concurrent versions")


def _take_back(final: Path, temp: Path) -> None:
    try:
        storage.rename(final, temp)
    except OSError as exc:
        storage.remove_quietly(final)
        raise _no_room(exc) from exc


def _no_database(exc: DatabaseError) -> IngestRefused:
    log.warning("archive index unavailable: %s", exc)
    return IngestRefused(OUT_OF_RESOURCES, "archive database unavailable")


def _no_room(exc: OSError) -> IngestRefused:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "archive disk full"
    else:
        reason = f"archive storage error ({errno.errorcode.get(exc.errno or 0, 'unknown')})"
    log.error("archive write failed: %s", exc)
    return IngestRefused(OUT_OF_RESOURCES, reason)


def _known_instance(sop_instance_uid: str) -> Instance | None:
    """The archived instance with this SOP Instance UID, if any. Nearly every image is new:
    a probe of the unique index alone answers that, the full row is loaded only for a re-send."""
    if not Instance.objects.filter(sop_instance_uid=sop_instance_uid).exists():
        return None
    return _instance_loaded(sop_instance_uid)


def _instance_loaded(sop_instance_uid: str) -> Instance | None:
    found = (
        Instance.objects.select_related("study__appointment__patient")
        .filter(sop_instance_uid=sop_instance_uid)
        .order_by()[:1]
    )
    return next(iter(found), None)


def _identical_copy(known: Instance, sha256: str, origin: IngestOrigin) -> IngestResult | None:
    if not InstanceFile.objects.filter(instance=known, sha256=sha256).exists():
        return None
    if origin.for_patient and not known.selected_for_patient:
        with transaction.atomic():
            Instance.objects.filter(pk=known.pk).update(selected_for_patient=True)
            known.selected_for_patient = True
            _audit_stored(known, origin, "already archived; selected for the patient")
            _notify_on_commit(known, created=False, origin=origin)
    return IngestResult(instance=known, created=False)


def _index(
    header: InstanceHeader,
    known: Instance | None,
    ahead: _Lookup | None,
    relative: str,
    sha256: str,
    size: int,
    origin: IngestOrigin,
    now: Any,
) -> IngestResult:
    """Write the index rows of a placed file in one transaction, with its audit record.

    Every row is written once (an INSERT for what is new, an UPDATE of the changed columns
    otherwise): at one instance at a time per association, each saved query is latency.
    A parallel writer of the same new instance or study makes an INSERT fail with
    IntegrityError, which the caller answers by looking again.
    """
    with transaction.atomic():
        if ahead is not None and ahead.study_absent:
            study = _study_create(header, now, ahead.appointment)
        else:
            study = _study_for(header, now)
        if known is None:
            instance, version = Instance(study=study, sop_instance_uid=header.sop_instance_uid), 1
        else:
            instance = Instance.objects.select_related("study__appointment__patient").get(
                pk=known.pk
            )
            latest = instance.files.order_by("-version").values_list("version", flat=True)
            version = (latest.first() or 0) + 1
        _describe(instance, header, for_patient=origin.for_patient)
        instance.save(force_insert=known is None)
        InstanceFile.objects.create(
            instance=instance,
            version=version,
            relative_path=relative,
            sha256=sha256,
            size=size,
            transfer_syntax_uid=header.transfer_syntax_uid,
            received_at=now,
            source=origin.source,
            calling_ae_title=origin.calling_ae[:16],
            called_ae_title=origin.called_ae[:16],
            address=origin.address[:64],
            user_id=origin.user_id,
        )
        _audit_stored(instance, origin, f"version {version}, {size} bytes")
        _notify_on_commit(instance, created=True, origin=origin)
    return IngestResult(instance=instance, created=True)


def _study_for(header: InstanceHeader, now: Any) -> Study:
    study = (
        Study.objects.select_related("appointment__patient")
        .filter(study_instance_uid=header.study_instance_uid)
        .order_by()
        .first()
    )
    if study is None:
        return _study_create(header, now, _appointment_for(header))
    changed = ["last_received_at"]
    # An unmatched study tries again when a new batch of its images arrives (its appointment
    # may have been booked since), not for every image of one transfer.
    if study.appointment_id is None and now - study.last_received_at > RELINK_AFTER:
        study.appointment = _appointment_for(header)
        changed.append("appointment")
    study.last_received_at = now
    retain_until = max(study.compute_retain_until(), study.retain_until)
    if retain_until != study.retain_until:
        study.retain_until = retain_until
        changed.append("retain_until")
    study.save(update_fields=changed)  # only these: a staff link made meanwhile stays
    return study


def _study_create(header: InstanceHeader, now: Any, appointment: Appointment | None) -> Study:
    study = Study(
        study_instance_uid=header.study_instance_uid,
        appointment=appointment,
        patient_id=header.patient_id,
        patient_name=header.patient_name,
        accession_number=header.accession_number,
        study_date=header.study_date,
        study_description=header.study_description,
        first_received_at=now,
        last_received_at=now,
    )
    study.retain_until = study.compute_retain_until()
    study.save(force_insert=True)
    return study


def _appointment_for(header: InstanceHeader) -> Appointment | None:
    return appointment_for(
        accession_number=header.accession_number,
        study_instance_uid=header.study_instance_uid,
        patient_id=header.patient_id,
        study_date=header.study_date,
    )


def _describe(instance: Instance, header: InstanceHeader, *, for_patient: bool) -> None:
    """Copy what the newest version says onto the instance (the caller saves it)."""
    instance.series_instance_uid = header.series_instance_uid
    instance.sop_class_uid = header.sop_class_uid
    instance.modality = header.modality
    instance.instance_number = header.instance_number
    instance.number_of_frames = header.number_of_frames
    instance.rows = header.rows
    instance.columns = header.columns
    instance.selected_for_patient = instance.selected_for_patient or for_patient


def _audit_stored(instance: Instance, origin: IngestOrigin, detail: str) -> None:
    audit_record(
        event=events.IMAGE_UPLOADED if origin.source == "web" else events.IMAGE_STORED,
        user=_user(origin.user_id),
        patient_ref=study_patient_ref(instance.study),
        object_ref=f"instance:{instance.key}",
        detail=detail + ("; for the patient" if origin.for_patient else ""),
        source=origin.describe(),
    )


def _user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first()  # type: ignore[return-value]


def _notify_on_commit(instance: Instance, *, created: bool, origin: IngestOrigin) -> None:
    transaction.on_commit(
        lambda: instance_stored.send(
            sender=Instance, instance=instance, created=created, for_patient=origin.for_patient
        )
    )


def study_link(*, study: Study, appointment: Appointment, user: User) -> Study:
    """Link an unmatched study to its appointment by hand (staff), audited."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        previous = study.appointment_id
        study.appointment = appointment
        study.save(update_fields=["appointment"])
        audit_record(
            event=events.INSTANCE_LINKED,
            user=user,
            patient_ref=appointment.patient.patient_id,
            object_ref=f"study:{study.key}",
            detail=f"linked to appointment {appointment.accession_number}"
            + (" (was linked to another)" if previous else ""),
            source="web",
        )
        transaction.on_commit(
            lambda: study_linked.send(sender=Study, study=study, appointment=appointment, user=user)
        )
    return study
