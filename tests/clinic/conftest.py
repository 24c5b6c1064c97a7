"""Fixtures of the clinic tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings):
    """argon2 is the production hasher (tested in test_staff_command); a cheap one keeps
    the many logins of these tests fast on a shared 2-core machine."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
