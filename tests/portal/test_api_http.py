"""The API behind the real web server (`echoshare web`, gunicorn): a create, its replay, a
file over the limit refused while it streams, and logs without the key, token or address."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from echoshare.portal.models import Share
from echoshare.portal.services import apikey_create
from tests.portal.conftest import default_upload
from tests.portal.factories import cheap_argon2_hash, jpeg_bytes, make_clinic

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    password = f":{conf['PASSWORD']}" if conf["PASSWORD"] else ""
    port = f":{conf['PORT']}" if conf["PORT"] else ""
    return f"postgres://{conf['USER']}{password}@{conf['HOST']}{port}/{conf['NAME']}"


@pytest.fixture
def web(tmp_path: Path, settings) -> Iterator[tuple[str, Path]]:
    """`echoshare web` on a free port against the test database; stopped afterwards."""
    port = _free_port()
    log_path = tmp_path / "web.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ECHOSHARE_DATA_DIR": str(tmp_path / "data"),
        "ECHOSHARE_PORTAL_MEDIA_DIR": str(settings.PORTAL_MEDIA_DIR),
        "ECHOSHARE_PORTAL_MAX_ITEM_MB": "1",
        "ECHOSHARE_HTTP_PORT": str(port),
        "ECHOSHARE_WEB_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "echoshare.cli", "web"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "the web server stopped"
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("the web server did not come up")


def _multipart(manifest: dict, files: dict[str, bytes]) -> list[tuple[str, tuple]]:
    parts: list[tuple[str, tuple]] = [("manifest", (None, json.dumps(manifest)))]
    parts += [(name, (f"{name}.bin", content)) for name, content in files.items()]
    return parts


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_api_works_behind_the_real_web_server(web) -> None:
    base, log_path = web
    clinic = make_clinic()
    _, key = apikey_create(clinic=clinic)
    auth = {"Authorization": f"Bearer {key}"}
    hashes = (cheap_argon2_hash("Kx7mPq4R"), cheap_argon2_hash("AB7K"))
    manifest, files = default_upload(["still", "clip"], *hashes)
    headers = auth | {"Idempotency-Key": "http-test-key-000000001"}
    first = requests.post(
        f"{base}/api/v1/shares", files=_multipart(manifest, files), headers=headers, timeout=30
    )
    again = requests.post(
        f"{base}/api/v1/shares", files=_multipart(manifest, files), headers=headers, timeout=30
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["url"] == first.json()["url"]
    token = first.json()["url"].rsplit("/s/", 1)[1]

    too_big = files | {"f1": jpeg_bytes() + b"\0" * (3 * 1024 * 1024)}
    headers = auth | {"Idempotency-Key": "http-test-key-000000002"}
    response = requests.post(
        f"{base}/api/v1/shares", files=_multipart(manifest, too_big), headers=headers, timeout=30
    )
    assert (response.status_code, response.json()["error"]) == (413, "file_too_large")
    assert Share.objects.count() == 1

    status = requests.get(f"{base}/api/v1/shares/{first.json()['id']}", headers=auth, timeout=10)
    assert status.status_code == 200 and status.json()["state"] == "active"
    assert requests.get(f"{base}/api/v1/events", timeout=10).status_code == 401

    log = log_path.read_text(errors="replace")
    assert "POST /api/v1/shares 201" in log
    for secret in (key, token, "Kx7mPq4R", "AB7K"):
        assert secret not in log
