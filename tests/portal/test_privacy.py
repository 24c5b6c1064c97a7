"""G2 and B1: after every API call and patient action, no canary a client could slip in,
no client address and no plaintext token, password or delete code is anywhere in the
database, the portal's files or the logs."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from PIL import Image

from echoshare.core.logging import ScrubFilter
from echoshare.portal.models import Share
from echoshare.portal.services import (
    event_record,
    share_check_password,
    share_delete_by_patient,
    share_find,
    shares_purge_due,
)
from echoshare.portal.tasks import share_purge_task
from tests.portal.conftest import DELETE_CODE, PASSWORD, Api, default_upload

pytestmark = pytest.mark.django_db

CANARY = "Jansen-Canary-7Q"
CANARY_ADDRESS = "198.51.100.23"
CANARY_FORWARDED = "203.0.113.77"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(ScrubFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[_Collect]:
    """Everything logged at any level, formatted and scrubbed as the console handler does."""
    handler = _Collect()
    names = ["", "django", "django.request", "django.server", "echoshare"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def _canary_upload(api: Api, key: str) -> dict:
    """A create request with the canary in every place a client controls."""
    manifest, files = default_upload(["still", "clip"], *api.hashes())
    renamed = {f"{CANARY}-{name}": content for name, content in files.items()}
    for item in manifest["items"]:
        for field in ("file", "thumbnail", "poster"):
            if field in item:
                item[field] = f"{CANARY}-{item[field]}"
    data: dict = {"manifest": json.dumps(manifest)}
    for name, content in renamed.items():
        data[name] = SimpleUploadedFile(
            f"{CANARY} echo.jpg", content, content_type=f"image/x-{CANARY}"
        )
    headers = api.headers(
        **{
            "Idempotency-Key": f"{CANARY}-idempotency",
            "User-Agent": f"Browser {CANARY}",
            "X-Forwarded-For": CANARY_FORWARDED,
        }
    )
    return {
        "path": "/api/v1/shares",
        "data": data,
        "headers": headers,
        "REMOTE_ADDR": CANARY_ADDRESS,
    }


def _refused_canaries(api: Api) -> None:
    """Requests that are refused must not leave their canaries behind either."""
    manifest, files = default_upload(["still"], *api.hashes())
    with_field = manifest | {"patient_name": CANARY}
    assert api.create(manifest=with_field, files=files).status_code == 400
    commented = io.BytesIO()
    Image.new("RGB", (16, 16)).save(commented, "JPEG", comment=CANARY.encode())
    response = api.create(manifest=manifest, files=files | {"f1": commented.getvalue()})
    assert response.json()["error"] == "metadata_not_allowed"
    headers = {"Authorization": f"Bearer esk_{CANARY}", "X-Forwarded-For": CANARY_FORWARDED}
    assert (
        api.client.get("/api/v1/events", headers=headers, REMOTE_ADDR=CANARY_ADDRESS).status_code
        == 401
    )


def _use_shares(api: Api) -> tuple[str, list[str]]:
    """Create (and replay) the canary share, use both shares through every API call and
    patient action that leaves them open; returns the canary share's id and the tokens."""
    request = _canary_upload(api, "k")
    first = api.client.post(request.pop("path"), **request)
    assert first.status_code == 201, first.content
    request = _canary_upload(api, "k")
    assert api.client.post(request.pop("path"), **request).status_code == 200  # replay
    share_id, token = first.json()["id"], first.json()["url"].rsplit("/s/", 1)[1]
    other_token = api.create(["still"]).json()["url"].rsplit("/s/", 1)[1]
    share = share_find(token=token)
    share_check_password(share=share, password="wrong-guess")
    share_check_password(share=share, password=PASSWORD)
    event_record(share=share, kind="viewed", item=share.items.first())
    share_delete_by_patient(token=other_token, code="ZZZZ")
    for path in (f"shares/{share_id}", f"shares/{share_id}/events", "events"):
        assert api.get(path).status_code == 200
    assert api.post(f"shares/{share_id}/extend", {"months": 1}).status_code == 200
    new_hash = api.hashes()[0]
    assert api.post(f"shares/{share_id}/password", {"password_hash": new_hash}).status_code == 200
    assert api.post(f"shares/{share_id}/reset-lockouts").status_code == 200
    return share_id, [token, other_token]


def _end_shares(api: Api, share_id: str, tokens: list[str]) -> None:
    """Revoke one share, let the patient delete the other, purge both."""
    assert api.post(f"shares/{share_id}/revoke").status_code == 200
    share_purge_task.call(Share.objects.get(public_id=share_id).pk)
    assert share_delete_by_patient(token=tokens[1], code=DELETE_CODE).value == "deleted"
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        shares_purge_due()


def _database_text() -> str:
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


def _files_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in folder.rglob("*") if path.is_file()]


def _assert_clean(secrets: list[str], logs: _Collect, folder: Path) -> None:
    database = _database_text()
    log_text = "\n".join(logs.lines)
    files = _files_bytes(folder)
    for secret in secrets:
        assert secret not in database, secret
        assert secret not in log_text, secret
        for path, content in files:
            assert secret.encode() not in content, (secret, path)
            assert secret not in str(path), (secret, path)


def test_no_canary_address_or_secret_is_stored_or_logged(api: Api, logs, settings) -> None:
    settings.TRUSTED_PROXIES = ["198.51.100.0/24"]  # so the forwarded address is used too
    folder = Path(settings.PORTAL_MEDIA_DIR)
    _refused_canaries(api)
    share_id, tokens = _use_shares(api)
    secrets = [CANARY, CANARY_ADDRESS, CANARY_FORWARDED, PASSWORD, DELETE_CODE, *tokens]
    # The searches do see the database, the refused requests' log lines and the files.
    assert api.clinic.name in _database_text()
    assert any("Bad Request: /api/v1/shares" in line for line in logs.lines)
    assert len(_files_bytes(folder)) == 7
    _assert_clean(secrets, logs, folder)
    _end_shares(api, share_id, tokens)
    _assert_clean(secrets, logs, folder)


def test_the_token_is_stored_only_as_a_keyed_hash(api: Api, settings) -> None:
    body = api.create(["still"]).json()
    token = body["url"].rsplit("/s/", 1)[1]
    assert len(token) == 22  # 128 bits, base64url
    row = Share.objects.filter(public_id=body["id"]).values().get()
    assert token not in repr(row)
    assert len(row["token_hash"]) == 64 and all(c in "0123456789abcdef" for c in row["token_hash"])
    # Computed here with hmac itself, not with the project's helper, so that a change of
    # the helper (to a plain hash, or a hash without the key) makes this fail.
    keyed = hmac.new(
        settings.TOKEN_HASH_KEY.encode(), f"share-token:{token}".encode(), hashlib.sha256
    ).hexdigest()
    assert row["token_hash"] == keyed
    for unkeyed in (token, f"share-token:{token}"):
        assert row["token_hash"] != hashlib.sha256(unkeyed.encode()).hexdigest()
    # Whoever has the database but not the key cannot look a token up.
    assert share_find(token=token) is not None
    settings.TOKEN_HASH_KEY = "another-key"
    assert share_find(token=token) is None
