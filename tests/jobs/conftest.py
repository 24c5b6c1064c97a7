"""Helpers to run echoshare processes against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """DATABASE_URL of the test database (the one pytest-django created) for a subprocess."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    user = conf["USER"] or ""
    password = f":{conf['PASSWORD']}" if conf["PASSWORD"] else ""
    port = f":{conf['PORT']}" if conf["PORT"] else ""
    return f"postgres://{user}{password}@{conf['HOST']}{port}/{conf['NAME']}"


def wait_for(predicate: Callable[[], object], *, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


class Processes:
    """Starts `python -m echoshare.cli ...` children; the fixture stops what is left."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "ECHOSHARE_DATA_DIR": str(tmp_path / "data"),
            "ECHOSHARE_JOB_HEARTBEAT_SECONDS": "1",
            "ECHOSHARE_JOB_STALE_SECONDS": "5",
            "ECHOSHARE_JOB_RETRY_BASE_SECONDS": "0",
            "ECHOSHARE_JOB_SHUTDOWN_GRACE_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{args[0]}-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "echoshare.cli", *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def log(self, index: int, name: str) -> str:
        return (self.tmp_path / f"{name}-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
