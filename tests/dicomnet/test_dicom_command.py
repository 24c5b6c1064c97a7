"""`echoshare dicom` as a process: serves, shares its port between processes, stops on SIGTERM
with exit status 0 and leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.dicomnet.conftest import dcmtk

pytestmark = pytest.mark.dicom

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_two_processes_share_the_port_and_stop_on_sigterm():
    port = _free_port()
    env = {
        **os.environ,
        "ECHOSHARE_DATA_DIR": str(settings.DATA_DIR),
        "ECHOSHARE_ARCHIVE_DIR": str(settings.ARCHIVE_DIR),
        "DATABASE_URL": f"sqlite:///{settings.DATA_DIR / 'unused.sqlite3'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "echoshare.cli", "dicom", "--processes", "2",
         "--port", str(port), "--bind", "127.0.0.1"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    children: list[int] = []
    try:
        assert process.stdout is not None
        assert "DICOM listening on 127.0.0.1" in process.stdout.readline()
        children = _children(process.pid)
        assert len(children) == 1  # the parent serves too
        for _ in range(6):  # the kernel spreads these over both processes
            result = dcmtk("echoscu", "-aec", "ECHOSHARE", "127.0.0.1", port)
            assert result.returncode == 0, result.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        for child in children:
            assert not Path(f"/proc/{child}").exists() or _is_zombie(child)
    finally:
        for pid in [*children, process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=10)


def _is_zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
