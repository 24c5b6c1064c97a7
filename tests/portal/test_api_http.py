"""The API behind the real web server (`echoshare web`, gunicorn): a create, its replay, a
file over the limit refused while it streams, and logs without the key, token or address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from echoshare.portal.models import Share
from echoshare.portal.services import apikey_create
from tests.portal import processes
from tests.portal.conftest import default_upload
from tests.portal.factories import cheap_argon2_hash, jpeg_bytes, make_clinic


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`echoshare web` on a free port against the test database; stopped afterwards."""
    port = processes.free_port()
    log_path = tmp_path / "web.log"
    env = {"ECHOSHARE_HTTP_PORT": str(port), "ECHOSHARE_WEB_WORKERS": "1"}
    process = processes.start("web", log_path, ECHOSHARE_PORTAL_MAX_ITEM_MB="1", **env)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for(lambda: processes.answers(f"{base}/healthz"), process, "the web server")
        yield base, log_path
    finally:
        processes.stop(process)


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
