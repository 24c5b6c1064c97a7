"""E4 on a real full disk: ARCHIVE_DIR is a 160 KiB tmpfs in a private mount namespace
(`unshare`), which disappears with the process: no mount is ever left on the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from echoshare.archive import errors
from echoshare.archive.models import InstanceFile
from tests.conftest import on_postgres

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _namespaces_available() -> bool:
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _namespaces_available(),
    reason="no user namespaces here; test_durability.py injects ENOSPC instead",
)
def test_a_really_full_disk_refuses_with_0xa700_and_keeps_no_partial_file(make_dicom, tmp_path):
    archive = tmp_path / "tiny-archive"
    archive.mkdir()
    big, small = make_dicom("examples_rgb_color.dcm"), make_dicom("SC_rgb_rle.dcm")
    if on_postgres():
        database_url = (
            os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
        )
    else:
        database_url = f"sqlite:///{connection.settings_dict['NAME']}"
    env = dict(os.environ, ECHOSHARE_ARCHIVE_DIR=str(archive), DATABASE_URL=database_url)
    script = (
        'mount -t tmpfs -o size=160k tmpfs "$ECHOSHARE_ARCHIVE_DIR" && '
        f'exec "{sys.executable}" -m tests.archive.enospc_probe "$0" "$1"'
    )

    done = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            str(big),
            str(small),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["big"] == [errors.OUT_OF_RESOURCES, "archive disk full"]
    assert report["after_big"] == []  # no partial file, not even in tmp/
    assert report["small_created"] is True
    assert len(report["after_small"]) == 1
    assert (
        list(InstanceFile.objects.values_list("relative_path", flat=True)) == report["after_small"]
    )
    assert list(archive.iterdir()) == []  # the tmpfs went away with the namespace
