"""The portal's management commands: clinics and API keys."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from echoshare.portal.models import ApiKey, Clinic

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _key(output: str) -> str:
    match = re.search(r"(esk_\S+)", output)
    assert match, output
    return match.group(1)


def test_clinic_create_prints_a_working_key_once(client: Client) -> None:
    output = _run(
        "portal_clinic_create", "--name", "Echo Oost", "--language", "en", "--months", "3"
    )
    clinic = Clinic.objects.get()
    assert (clinic.name, clinic.default_language, clinic.default_share_months) == (
        "Echo Oost",
        "en",
        3,
    )
    key = _key(output)
    assert key not in repr(list(ApiKey.objects.values()))
    response = client.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_apikey_create_and_revoke(client: Client) -> None:
    _run("portal_clinic_create", "--name", "Echo West", "--no-key")
    clinic = Clinic.objects.get()
    key = _key(_run("portal_apikey_create", clinic.public_id, "--label", "backup"))
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/events", headers=headers).status_code == 200
    prefix = ApiKey.objects.get(label="backup").prefix
    assert "revoked" in _run("portal_apikey_revoke", prefix)
    assert client.get("/api/v1/events", headers=headers).status_code == 401
    with pytest.raises(CommandError):
        _run("portal_apikey_revoke", prefix)


def test_apikey_create_refuses_an_unknown_clinic() -> None:
    with pytest.raises(CommandError):
        _run("portal_apikey_create", "no-such-clinic")


def test_clinic_update_sets_a_checked_logo(tmp_path, settings) -> None:
    from PIL import Image

    _run("portal_clinic_create", "--name", "Echo Noord", "--no-key")
    clinic = Clinic.objects.get()
    logo = tmp_path / "Echo Noord logo.png"
    Image.new("RGB", (40, 20), (200, 10, 10)).save(logo)
    _run("portal_clinic_update", clinic.public_id, "--logo", str(logo), "--months", "4")
    clinic.refresh_from_db()
    stored = Path(clinic.logo.path)
    assert stored.read_bytes() == logo.read_bytes() and stored.suffix == ".png"
    assert "Noord" not in stored.name
    assert stored.is_relative_to(settings.PORTAL_MEDIA_DIR)
    assert clinic.default_share_months == 4
    not_an_image = tmp_path / "logo.png"
    not_an_image.write_bytes(b"<svg onload=alert(1)>")
    with pytest.raises(CommandError):
        _run("portal_clinic_update", clinic.public_id, "--logo", str(not_an_image))
    clinic.refresh_from_db()
    assert Path(clinic.logo.path) == stored
