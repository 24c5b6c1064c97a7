"""Fixtures of the portal core's tests: a clinic with an API key, an API client, uploads."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from django.test import Client

from echoshare.portal.models import Clinic
from echoshare.portal.services import apikey_create
from tests.portal.factories import cheap_argon2_hash, jpeg_bytes, make_clinic, mp4_bytes

PASSWORD = "Kx7mPq4R"
DELETE_CODE = "AB7K"


class Api:
    """A Django test client speaking to /api/v1/ with one clinic's key."""

    def __init__(self, clinic: Clinic, key: str) -> None:
        self.clinic = clinic
        self.key = key
        self.client = Client()
        self._hashes: tuple[str, str] | None = None

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/{path}", params, headers=self.headers())

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return self.client.post(
            f"/api/v1/{path}", data, content_type="application/json", headers=self.headers()
        )

    def hashes(self) -> tuple[str, str]:
        if self._hashes is None:
            self._hashes = (cheap_argon2_hash(PASSWORD), cheap_argon2_hash(DELETE_CODE))
        return self._hashes

    def create(
        self,
        kinds: Iterable[str] = ("still", "clip"),
        *,
        key: str | None = None,
        manifest: dict[str, Any] | None = None,
        files: dict[str, bytes] | None = None,
        **fields: Any,
    ) -> Any:
        """POST /shares with real files for `kinds`, or with the given manifest and files."""
        if manifest is None:
            manifest, files = default_upload(kinds, *self.hashes())
        manifest = manifest | fields
        data: dict[str, Any] = {"manifest": json.dumps(manifest)}
        for name, content in (files or {}).items():
            upload = io.BytesIO(content)
            upload.name = f"{name}.bin"
            data[name] = upload
        headers = self.headers(**{"Idempotency-Key": key or f"key-{uuid.uuid4()}"})
        return self.client.post("/api/v1/shares", data, headers=headers)


def default_upload(
    kinds: Iterable[str], password_hash: str, code_hash: str
) -> tuple[dict[str, Any], dict[str, bytes]]:
    items: list[dict[str, str]] = []
    files: dict[str, bytes] = {}
    for number, kind in enumerate(kinds, start=1):
        item = {"kind": kind, "file": f"f{number}", "thumbnail": f"t{number}"}
        files[f"f{number}"] = mp4_bytes() if kind == "clip" else jpeg_bytes()
        files[f"t{number}"] = jpeg_bytes(32, 24)
        if kind == "clip":
            item["poster"] = f"p{number}"
            files[f"p{number}"] = jpeg_bytes()
        items.append(item)
    manifest = {"password_hash": password_hash, "delete_code_hash": code_hash, "items": items}
    return manifest, files


@pytest.fixture
def api(db) -> Api:
    clinic = make_clinic()
    _, key = apikey_create(clinic=clinic, label="test")
    return Api(clinic, key)


@pytest.fixture
def other_api(db) -> Api:
    clinic = make_clinic(name="Echocentrum Zuid", language="en")
    _, key = apikey_create(clinic=clinic)
    return Api(clinic, key)
