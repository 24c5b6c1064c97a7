"""`archive export`: a study's original DICOM files as a zip (audited)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

from django.db import transaction

from echoshare.archive import storage
from echoshare.archive.models import Study, study_patient_ref
from echoshare.audit import events
from echoshare.audit.services import audit_record


class ExportFailed(Exception):
    """An archived file is missing or no longer matches its SHA-256: nothing is exported."""


def study_export(*, study: Study, out: Path, user: Any = None, source: str = "cli") -> int:
    """Write the newest version of each instance of `study` to the zip `out`; returns the
    number of files. Entries are named DICOM/0001.dcm ... (no DICOM value in a name)."""
    instances = study.instances.order_by("series_instance_uid", "instance_number", "pk")
    partial = out.with_name(out.name + ".part")
    count = 0
    try:
        with zipfile.ZipFile(partial, "x", compression=zipfile.ZIP_STORED) as archive:
            for instance in instances:
                current = instance.current_file()
                if current is None:
                    continue
                count += 1
                _add_verified(
                    archive, f"DICOM/{count:04d}.dcm", current.relative_path, current.sha256
                )
        os.replace(partial, out)
    finally:
        storage.remove_quietly(partial)
    with transaction.atomic():
        audit_record(
            event=events.STUDY_EXPORTED,
            user=user,
            patient_ref=study_patient_ref(study),
            object_ref=f"study:{study.key}",
            detail=f"{count} file(s) to {out.name}",
            source=source,
        )
    return count


def _add_verified(archive: zipfile.ZipFile, name: str, relative: str, sha256: str) -> None:
    digest = hashlib.sha256()
    try:
        with (
            storage.absolute(relative).open("rb") as source,
            archive.open(name, "w", force_zip64=True) as target,
        ):
            while chunk := source.read(storage.CHUNK):
                digest.update(chunk)
                target.write(chunk)
    except FileNotFoundError as exc:
        raise ExportFailed(f"archived file {relative} is missing") from exc
    if digest.hexdigest() != sha256:
        raise ExportFailed(f"archived file {relative} does not match its SHA-256")
