"""`echoshare backup DEST` then `echoshare restore SRC` into an empty data directory: every
hash verified; a damaged backup and a non-empty target are refused."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from echoshare.archive.models import InstanceFile
from echoshare.archive.services import instance_store
from tests.archive.conftest import DICOM_ORIGIN
from tests.conftest import on_postgres

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
RESTORE_DB = "test_archive_restore"


@pytest.fixture
def archived(make_dicom) -> dict[str, str]:
    """A few instances in the archive; {relative_path: sha256}."""
    for name in ("examples_rgb_color.dcm", "examples_ybr_color.dcm", "examples_jpeg2k.dcm"):
        instance_store(path=make_dicom(name), origin=DICOM_ORIGIN)
    return dict(InstanceFile.objects.values_list("relative_path", "sha256"))


@pytest.fixture
def target(tmp_path) -> Iterator[dict[str, str]]:
    """Environment of an empty installation to restore into (own database and folders)."""
    data = tmp_path / "restored"
    env = dict(
        os.environ, ECHOSHARE_DATA_DIR=str(data), ECHOSHARE_ARCHIVE_DIR=str(data / "archive")
    )
    if on_postgres():
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        _psql(base, f"DROP DATABASE IF EXISTS {RESTORE_DB}", f"CREATE DATABASE {RESTORE_DB}")
        env["DATABASE_URL"] = f"{base}/{RESTORE_DB}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{data / 'echoshare.sqlite3'}"
    yield env
    if on_postgres():
        _psql(base, f"DROP DATABASE IF EXISTS {RESTORE_DB}")


def _psql(base_url: str, *statements: str) -> None:
    for statement in statements:
        subprocess.run(
            ["psql", f"{base_url}/postgres", "-qc", statement], check=True, capture_output=True
        )


def _restore(source: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echoshare.cli", "restore", str(source)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _restored_index(env: dict[str, str]) -> dict[str, str]:
    query = "SELECT relative_path, sha256 FROM archive_instancefile"
    if on_postgres():
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as conn:
            return dict(conn.execute(query).fetchall())  # type: ignore[arg-type]
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite://")) as conn:
        return dict(conn.execute(query).fetchall())


def test_backup_then_restore_into_an_empty_data_directory_verifies_every_hash(
    archived, tmp_path, target
):
    backup = tmp_path / "backup"
    call_command("backup", str(backup))
    manifest = json.loads((backup / "manifest.json").read_text())
    assert {e["path"] for e in manifest["entries"]} >= set(archived)
    keys = (backup / "KEYS.txt").read_text()
    for secret in ("SECRET_KEY", "TOKEN_HASH_KEY", "CLINIC_SECRETS_KEY", "PORTAL_API_KEY"):
        assert f"ECHOSHARE_{secret}" in keys  # every key the restored data needs

    done = _restore(backup, target)

    assert done.returncode == 0, done.stderr
    assert f"{len(archived)} verified" in done.stdout
    assert _restored_index(target) == archived
    archive_dir = Path(target["ECHOSHARE_ARCHIVE_DIR"])
    for relative, sha256 in archived.items():
        assert hashlib.sha256((archive_dir / relative).read_bytes()).hexdigest() == sha256


def test_a_damaged_backup_is_detected_and_nothing_is_restored(archived, tmp_path, settings):
    backup = tmp_path / "backup"
    call_command("backup", str(backup))
    damaged = backup / next(iter(archived))
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    settings.ARCHIVE_DIR = tmp_path / "empty-archive"  # checked before any target is looked at

    with pytest.raises(CommandError, match=f"damaged: {next(iter(archived))}"):
        call_command("restore", str(backup))

    assert not (tmp_path / "empty-archive" / "files").exists()


def test_restore_refuses_a_target_that_is_not_empty(archived, tmp_path, settings):
    backup = tmp_path / "backup"
    call_command("backup", str(backup))

    # The archive folder of this test already holds the archived files.
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(backup))

    assert dict(InstanceFile.objects.values_list("relative_path", "sha256")) == archived


def test_backup_refuses_a_destination_that_is_not_empty(archived, tmp_path):
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "other").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(dest))


def test_exported_media_uploaded_onto_an_exam_are_backed_up_and_restored(
    archived, tmp_path, target, settings
):
    """Staff-uploaded JPEG/PNG/MP4 live under ARCHIVE_DIR/exported/: part of the record too."""
    from datetime import date

    from django.utils import timezone

    from echoshare.clinic.models import Appointment, ExportedMedia, Patient

    patient = Patient.objects.create(
        patient_id="BK1", family_name="Backup", birth_date=date(1990, 1, 2)
    )
    appointment = Appointment.objects.create(
        patient=patient, scheduled_at=timezone.now(), exam_type="echo", accession_number="BK1"
    )
    relative = "exported/2026/11/26/0123abcd.jpeg"
    content = b"\xff\xd8exported media bytes\xff\xd9"
    stored = Path(settings.ARCHIVE_DIR) / relative
    stored.parent.mkdir(parents=True)
    stored.write_bytes(content)
    sha256 = hashlib.sha256(content).hexdigest()
    ExportedMedia.objects.create(
        appointment=appointment,
        kind="jpeg",
        relative_path=relative,
        sha256=sha256,
        size=len(content),
    )
    backup = tmp_path / "backup"
    call_command("backup", str(backup))
    assert relative in {
        e["path"] for e in json.loads((backup / "manifest.json").read_text())["entries"]
    }

    done = _restore(backup, target)

    assert done.returncode == 0, done.stderr
    restored = Path(target["ECHOSHARE_ARCHIVE_DIR"]) / relative
    assert hashlib.sha256(restored.read_bytes()).hexdigest() == sha256
