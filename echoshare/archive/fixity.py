"""`archive verify` (E3): re-hash every archived file, find missing, changed and unindexed ones.

Archived files are the DICOM under files/ (`InstanceFile`) and the exported JPEG/PNG/MP4 staff
uploaded onto exams under exported/ (`clinic.ExportedMedia`): one run, one set of counts.
The result is kept as a `FixityRun` so that administrators see the last one; the scheduler
runs it weekly (`archive.verify`). It also clears temp files that a crash left in `tmp/`
(never archived data: nothing answered success for them).

Last, it sends `derived_copies_sweep` so that the apps that made copies of archived files
(staff thumbnails, the render cache) remove those whose source is no longer archived. Purge
and destruction remove those copies right after their commit; this weekly sweep is the
later cleanup for what that left (a removal that failed, a job that wrote a copy while its
source was being deleted), so no copy outlives its source by more than a week. It rides on
verify because verify reads the whole index anyway: the SHA-256 of every archived file are
collected on that pass, so the sweep costs no further scan of the (unindexed) hash columns.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from echoshare.archive import signals, storage
from echoshare.archive.models import FixityRun, InstanceFile
from echoshare.audit import events
from echoshare.audit.services import audit_record

# The clinic's model, through the ORM: no import-linter contract keeps the archive from the
# clinic app (a study already links to clinic.Appointment), see retention.py.
from echoshare.clinic.models import ExportedMedia

MAX_LISTED_PROBLEMS = 1000
# A file placed moments ago may still be waiting for its index row to commit.
IN_FLIGHT = timedelta(minutes=10)
STALE_TEMP = timedelta(days=1)

log = logging.getLogger(__name__)


def archive_verify(*, user: Any = None, source: str = "scheduler") -> FixityRun:
    run = FixityRun.objects.create(started_at=timezone.now())
    counts: Counter[str] = Counter()

    def problem(kind: str, relative: str) -> None:
        counts[kind] += 1
        if len(run.problems) < MAX_LISTED_PROBLEMS:
            run.problems.append({"problem": kind, "path": relative})

    archived: set[str] = set()  # SHA-256 of every indexed file, for the sweep
    checked = sum(_verify_folder(kind, problem, archived) for kind in _KINDS)
    _clear_stale_temp_files()
    _sweep_derived_copies(archived)
    with transaction.atomic():
        run.finished_at = timezone.now()
        run.checked = checked
        run.missing, run.changed, run.unindexed = (
            counts["missing"],
            counts["changed"],
            counts["unindexed"],
        )
        run.save()
        audit_record(
            event=events.ARCHIVE_VERIFIED,
            outcome=events.SUCCESS if run.ok else events.FAILURE,
            user=user,
            object_ref=f"fixity:{run.pk}",
            detail=f"{run.checked} checked, {run.missing} missing, {run.changed} changed, "
            f"{run.unindexed} unindexed",
            source=source,
        )
    return run


# (folder under ARCHIVE_DIR, the model indexing it, path of a row: ValueError outside folder)
_Kind = tuple[str, Any, Callable[[str], Path]]
_KINDS: list[_Kind] = [
    (storage.FILES, InstanceFile, storage.absolute),
    (storage.EXPORTED, ExportedMedia, storage.exported_absolute),
]


def _verify_folder(kind: _Kind, problem: Callable[[str, str], None], archived: set[str]) -> int:
    """Re-hash the files one model indexes, then look for strays; adds their SHA-256 to
    `archived`. -> how many rows checked"""
    folder, model, resolve = kind
    indexed: set[str] = set()
    rows = model.objects.order_by("pk").values_list("relative_path", "sha256")
    for relative, sha256 in rows.iterator(chunk_size=2000):
        indexed.add(relative)
        archived.add(sha256)
        wrong = _check(resolve, relative, sha256)
        if wrong:
            problem(wrong, relative)
    for relative in _unindexed(folder, model, indexed):
        problem("unindexed", relative)
    return len(indexed)


def _check(resolve: Callable[[str], Path], relative: str, sha256: str) -> str:
    """What is wrong with an indexed file ("missing", "changed"), or "" when it is intact."""
    try:
        path = resolve(relative)
    except ValueError:  # an index row naming a path outside its folder: the index was tampered
        return "missing"
    if not path.is_file():
        return "missing"
    if storage.file_sha256(path) != sha256:
        return "changed"
    return ""


def _unindexed(folder: str, model: Any, indexed: set[str]) -> list[str]:
    """Files in `folder` without an index row, older than the in-flight window."""
    root = storage.archive_root()
    files = root / folder
    if not files.exists():
        return []
    settle = time.time() - IN_FLIGHT.total_seconds()
    candidates = [
        path.relative_to(root).as_posix()
        for path in files.rglob("*")
        if path.is_file() and path.relative_to(root).as_posix() not in indexed
    ]
    # Indexed while we walked, or placed moments ago and about to be indexed: not a problem.
    now_indexed = set(
        model.objects.filter(relative_path__in=candidates).values_list("relative_path", flat=True)
    )
    return sorted(
        relative
        for relative in candidates
        if relative not in now_indexed and _mtime(root / relative) < settle
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _clear_stale_temp_files() -> None:
    cutoff = time.time() - STALE_TEMP.total_seconds()
    for path in storage.tmp_dir().iterdir():
        if path.is_file() and _mtime(path) < cutoff:
            storage.remove_quietly(path)


def _sweep_derived_copies(archived: set[str]) -> None:
    """Have every app remove its copies of files no longer archived (see the module doc)."""

    def still_archived(sha256s: Collection[str]) -> set[str]:
        known = {sha256 for sha256 in sha256s if sha256 in archived}
        # Archived after this run read the index: ask the database (few, if any).
        newer = [sha256 for sha256 in sha256s if sha256 not in known]
        if newer:
            for model in (InstanceFile, ExportedMedia):
                rows = model.objects.filter(sha256__in=newer).values_list("sha256", flat=True)
                known.update(rows)
        return known

    # A receiver's error (a database error in still_archived included: nothing is removed
    # for that batch then) is logged; verify's own result stands.
    responses = signals.derived_copies_sweep.send_robust(
        sender=FixityRun, still_archived=still_archived
    )
    for receiver, outcome in responses:
        name = getattr(receiver, "__qualname__", receiver)
        if isinstance(outcome, Exception):
            log.error("%s could not sweep derived copies: %s", name, outcome, exc_info=outcome)
        elif outcome:
            log.info("%s removed %s copies of files no longer archived", name, outcome)
