"""`echoshare backup DEST` and `echoshare restore SRC`.

A backup folder holds:
    database.sqlite3 or database.pgdump   a consistent copy of the database
    files/...                             every archived file the copy indexes
    manifest.json                         SHA-256 and size of all of the above (written last)
    KEYS.txt                              which secrets are NOT in the backup

Consistency: the database copy is taken first (SQLite online backup API; PostgreSQL
`pg_dump` of an exported REPEATABLE READ snapshot) and the files copied are exactly those
that copy indexes. Archived files never change once written, so copying them afterwards
gives the same bytes; each is hashed while copied and checked against its index row.

Restore refuses a non-empty target, checks every hash of the backup before touching
anything, and afterwards re-verifies every restored file against the restored index.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from django.db import connection, connections, transaction
from django.utils import timezone

from echoshare.archive import storage
from echoshare.audit import events
from echoshare.audit.services import audit_record

MANIFEST = "manifest.json"
SQLITE_COPY = "database.sqlite3"
PG_DUMP = "database.pgdump"
KEYS_NOTE = """Keep these secrets somewhere else than this backup (a password manager or a safe):
they are not in it, and without them a restored installation cannot work as before.

- ECHOSHARE_SECRET_KEY: sessions and CSRF. On its own a new one only logs everybody out,
  but the two keys below are derived from it when they are not set: then it is needed for
  everything they do.
- ECHOSHARE_TOKEN_HASH_KEY: the keyed hashes of portal link tokens and API keys; without it
  no existing link or API key can be checked.
- ECHOSHARE_CLINIC_SECRETS_KEY: decrypts what the clinic tier keeps sealed (the patients'
  image passwords, the texts of queued messages with their links and delete codes);
  without it those cannot be read or sent again.
- ECHOSHARE_PORTAL_API_KEY: the clinic's key for the portal.
- The database password (DATABASE_URL) and the mail/SMS gateway credentials.
- Any key of an encrypted disk or object store that holds the archive.
"""


class BackupFailed(Exception):
    pass


@dataclass(frozen=True)
class BackupReport:
    destination: Path
    files: int
    bytes: int


def _engine() -> str:
    return "sqlite" if connection.vendor == "sqlite" else "postgresql"


def _pg_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        PGHOST=str(db.get("HOST") or ""),
        PGPORT=str(db.get("PORT") or ""),
        PGUSER=str(db.get("USER") or ""),
        PGPASSWORD=str(db.get("PASSWORD") or ""),
        PGDATABASE=str(db["NAME"]),
    )
    return env


def _copy_database(dest: Path) -> tuple[str, list[tuple[str, str, int]]]:
    """Copy the database into `dest`; return its file name and the files it indexes."""
    # The archive's DICOM files and the exported JPEG/PNG/MP4 that staff uploaded onto exams
    # (kept under ARCHIVE_DIR/exported/ by the clinic app): both are the clinic's record.
    query = (
        "SELECT relative_path, sha256, size FROM archive_instancefile"
        " UNION ALL SELECT relative_path, sha256, size FROM clinic_exportedmedia"
    )
    if _engine() == "sqlite":
        target = dest / SQLITE_COPY
        source = sqlite3.connect(str(connection.settings_dict["NAME"]))
        copy = sqlite3.connect(str(target))
        try:
            source.backup(copy)  # the online backup API: a consistent snapshot
            rows = list(copy.execute(query))
        finally:
            copy.close()
            source.close()
        return SQLITE_COPY, rows
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        subprocess.run(
            ["pg_dump", "--format=custom", f"--snapshot={snapshot}", "-f", str(dest / PG_DUMP)],
            env=_pg_env(),
            check=True,
            capture_output=True,
        )
        cursor.execute(query)
        rows = list(cursor.fetchall())
    return PG_DUMP, rows


def backup_create(*, dest: Path, user: Any = None) -> BackupReport:
    if dest.exists() and any(dest.iterdir()):
        raise BackupFailed(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    database_file, rows = _copy_database(dest)
    entries: list[dict[str, Any]] = [
        {"path": database_file, "sha256": storage.file_sha256(dest / database_file)}
    ]
    problems, total = [], 0
    for relative, sha256, size in rows:
        try:
            with _archived_path(relative).open("rb") as source:
                copied = _copy_hashed(source, dest / relative)
        except FileNotFoundError:
            problems.append(f"missing: {relative}")
            continue
        if copied != sha256:
            problems.append(f"changed: {relative}")
        entries.append({"path": relative, "sha256": sha256, "size": size})
        total += size
    if problems:
        raise BackupFailed(
            "the archive has damaged files (run `echoshare archive verify`): "
            + "; ".join(problems[:20])
        )
    (dest / "KEYS.txt").write_text(KEYS_NOTE, encoding="utf-8")
    manifest = {
        "format": 1,
        "created_at": timezone.now().isoformat(),
        "engine": _engine(),
        "database": database_file,
        "entries": entries,
    }
    _write_durably(dest / MANIFEST, json.dumps(manifest, indent=1).encode())
    with transaction.atomic():
        audit_record(
            event=events.BACKUP_CREATED,
            user=user,
            detail=f"{len(rows)} file(s), {total} bytes to {dest}",
            source="cli",
        )
    return BackupReport(destination=dest, files=len(rows), bytes=total)


def _is_exported(relative: str) -> bool:
    return PurePosixPath(relative).parts[:1] == (storage.EXPORTED,)


def _archived_path(relative: str) -> Path:
    """An indexed file's path: DICOM under files/, exported media under exported/."""
    if _is_exported(relative):
        return storage.exported_absolute(relative)
    return storage.absolute(relative)


def _place_restored(temp: Path, relative: str) -> None:
    if not _is_exported(relative):
        storage.place(temp, PurePosixPath(relative))
        return
    target = _archived_path(relative)
    storage.make_dirs(target.parent)
    storage.rename(temp, target)
    storage.fsync_dir(target.parent)


def _copy_hashed(source: Any, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with target.open("xb") as out:
        while chunk := source.read(storage.CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    _copy_durably(io.BytesIO(data), path)


def _copy_durably(source: BinaryIO, path: Path) -> None:
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        shutil.copyfileobj(source, out, storage.CHUNK)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    storage.fsync_dir(path.parent)


# --- restore ----------------------------------------------------------------------------------


class RestoreFailed(Exception):
    pass


@dataclass(frozen=True)
class RestoreReport:
    files: int
    verified: int


def _read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RestoreFailed(f"{source} has no readable {MANIFEST}: not a complete backup") from exc
    if manifest.get("format") != 1 or manifest.get("engine") != _engine():
        raise RestoreFailed(
            f"backup is for a {manifest.get('engine')} database; this installation uses {_engine()}"
        )
    return manifest


def _check_backup(source: Path, manifest: dict[str, Any]) -> None:
    """Every entry present with its SHA-256, before anything is touched."""
    problems = []
    for entry in manifest["entries"]:
        path = _inside(source, entry["path"])
        if not path.is_file():
            problems.append(f"missing: {entry['path']}")
        elif storage.file_sha256(path) != entry["sha256"]:
            problems.append(f"damaged: {entry['path']}")
    if problems:
        raise RestoreFailed("the backup is damaged: " + "; ".join(problems[:20]))


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RestoreFailed(f"manifest names a path outside the backup: {relative}")
    return path


def _check_target_empty() -> None:
    for files in (storage.files_dir(), storage.exported_dir()):
        if files.exists() and any(files.iterdir()):
            raise RestoreFailed(f"the archive folder {files} is not empty")
    if _engine() == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        if name.exists() and name.stat().st_size > 0:
            raise RestoreFailed(f"the database {name} already exists")
    elif connection.introspection.table_names():
        raise RestoreFailed("the database is not empty")


def _restore_database(source: Path, manifest: dict[str, Any]) -> None:
    dump = source / manifest["database"]
    if _engine() == "sqlite":
        connections.close_all()
        name = Path(str(connection.settings_dict["NAME"]))
        name.parent.mkdir(parents=True, exist_ok=True)
        with dump.open("rb") as reader:
            _copy_durably(reader, name)
        return
    connections.close_all()
    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "-d",
            _pg_env()["PGDATABASE"],
            str(dump),
        ],
        env=_pg_env(),
        check=True,
        capture_output=True,
    )


def backup_restore(*, source: Path) -> RestoreReport:
    from echoshare.archive.fixity import archive_verify
    from echoshare.archive.models import InstanceFile
    from echoshare.clinic.models import ExportedMedia

    manifest = _read_manifest(source)
    _check_backup(source, manifest)
    _check_target_empty()
    _restore_database(source, manifest)
    archived = [e for e in manifest["entries"] if e["path"] != manifest["database"]]
    for entry in archived:
        with _inside(source, entry["path"]).open("rb") as reader:
            temp, sha256, _size = storage.stream_to_temp(reader)
        if sha256 != entry["sha256"]:  # checked before, so only a change while restoring
            temp.unlink(missing_ok=True)
            raise RestoreFailed(f"{entry['path']} changed while it was restored")
        _place_restored(temp, entry["path"])
    run = archive_verify(source="restore")
    # verify checks the DICOM files and the exported media: every restored row must be seen.
    if not run.ok or run.checked != InstanceFile.objects.count() + ExportedMedia.objects.count():
        raise RestoreFailed(
            f"restored archive does not verify: {run.missing} missing, {run.changed} changed, "
            f"{run.unindexed} unindexed"
        )
    with transaction.atomic():
        audit_record(
            event=events.BACKUP_RESTORED,
            detail=f"{len(archived)} file(s) restored and verified from {source}",
            source="cli",
        )
    return RestoreReport(files=len(archived), verified=run.checked)
