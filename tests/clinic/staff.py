"""Staff personas for tests: an account in a role with a TOTP device, and logging it in."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.clinic.accounts import staff_create

PASSWORD = "correct horse battery staple"


def make_staff(username: str, role: str) -> tuple[User, TOTPDevice]:
    return staff_create(username=username, role=role, password=PASSWORD)


def current_code(device: TOTPDevice) -> str:
    """The code the authenticator app shows now (time-machine moves "now")."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):0{device.digits}d}"


def verified_client(user: User, device: TOTPDevice) -> Client:
    """A client with a session that passed password and second factor."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
