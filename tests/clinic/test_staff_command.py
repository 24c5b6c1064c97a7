"""`echoshare staff create|reset-totp` and `echoshare apitokens create|list|revoke`."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import ApiToken
from tests.clinic.staff import current_code

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough staff password"


def _create(monkeypatch, *args: str, password: str = PASSWORD) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = StringIO()
    call_command("staff", "create", *args, "--password-stdin", stdout=out)
    return out.getvalue()


def test_it_creates_a_staff_member_in_a_role_with_an_argon2_password_and_a_totp_device(
    monkeypatch, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    out = _create(monkeypatch, "anna", "--role", "sonographer")
    user = User.objects.get(username="anna")
    assert user.password.startswith("argon2$argon2id$")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["sonographer"]
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    assert "otpauth://totp/" in out
    assert device.config_url in out
    assert "█" in out or "▀" in out  # the QR code
    assert AuditRecord.objects.get(event=events.STAFF_CREATED).detail == "role: sonographer"
    login = Client().post(
        "/staff/login/",
        {"username": "anna", "password": PASSWORD, "otp_code": current_code(device)},
    )
    assert login.status_code == 302


def test_a_weak_password_or_unknown_role_is_refused(monkeypatch):
    with pytest.raises(CommandError, match="too short"):
        _create(monkeypatch, "anna", "--role", "sonographer", password="short")
    with pytest.raises(CommandError):
        _create(monkeypatch, "anna", "--role", "janitor")
    assert not User.objects.exists()


def test_an_existing_name_is_refused(monkeypatch):
    _create(monkeypatch, "anna", "--role", "frontdesk")
    with pytest.raises(CommandError, match="exists already"):
        _create(monkeypatch, "anna", "--role", "frontdesk")


def test_reset_totp_replaces_the_device(monkeypatch):
    _create(monkeypatch, "anna", "--role", "frontdesk")
    old = TOTPDevice.objects.get()
    out = StringIO()
    call_command("staff", "reset-totp", "anna", "--no-qr", stdout=out)
    new = TOTPDevice.objects.get()
    assert new.pk != old.pk and new.key != old.key
    assert new.config_url in out.getvalue()
    assert AuditRecord.objects.filter(event=events.OTP_DEVICE_CREATED).count() == 1


def test_api_tokens_are_created_listed_and_revoked():
    out = StringIO()
    call_command("apitokens", "create", "HiX", stdout=out)
    plaintext = out.getvalue().splitlines()[1]
    token = ApiToken.objects.get()
    assert plaintext.startswith(token.prefix)
    listing = StringIO()
    call_command("apitokens", "list", stdout=listing)
    assert f"{token.prefix}  HiX  active" in listing.getvalue()
    assert plaintext not in listing.getvalue()
    call_command("apitokens", "revoke", token.prefix, stdout=StringIO())
    token.refresh_from_db()
    assert token.revoked_at is not None
    with pytest.raises(CommandError, match="0 active tokens"):
        call_command("apitokens", "revoke", token.prefix)
    assert AuditRecord.objects.filter(event=events.API_TOKEN_REVOKED).count() == 1
