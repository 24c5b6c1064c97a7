"""Running `echoshare <command>` as a child process against the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
_logs: dict[int, Path] = {}  # pid -> log file, to show when a process dies early


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    """True once the URL answers 200 (a server that is up)."""
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def database_url() -> str:
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    password = f":{conf['PASSWORD']}" if conf["PASSWORD"] else ""
    port = f":{conf['PORT']}" if conf["PORT"] else ""
    return f"postgres://{conf['USER']}{password}@{conf['HOST']}{port}/{conf['NAME']}"


def start(command: str, log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """Start `echoshare <command>` with the test database and this test's media folder."""
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ECHOSHARE_DATA_DIR": str(log_path.parent / "data"),
        "ECHOSHARE_PORTAL_MEDIA_DIR": str(settings.PORTAL_MEDIA_DIR),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "echoshare.cli", command],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _logs[process.pid] = log_path
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for(predicate: Callable[[], object], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = _logs[process.pid].read_text(errors="replace")
            raise AssertionError(f"{what}: the process stopped:\n{log[-3000:]}")
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
