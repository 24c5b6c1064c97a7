"""The project's system checks, and `check --deploy` with production settings (B6)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from echoshare.core import checks
from echoshare.settings import _DEV_SECRET


def _ids(problems: list) -> set[str]:
    return {problem.id for problem in problems}


def test_the_embedded_secret_key_fails_the_deploy_check(settings) -> None:
    settings.SECRET_KEY = _DEV_SECRET
    assert "echoshare.E002" in _ids(checks.check_deploy(None))
    settings.SECRET_KEY = "x" * 60
    assert "echoshare.E002" not in _ids(checks.check_deploy(None))


def test_role_all_without_debug_warns_that_it_is_for_trials(settings) -> None:
    settings.ROLE, settings.DEBUG = "all", False
    assert "echoshare.W001" in _ids(checks.check_deploy(None))
    settings.ROLE = "portal"
    assert "echoshare.W001" not in _ids(checks.check_deploy(None))


def test_a_clinic_without_a_portal_key_fails_the_deploy_check(settings) -> None:
    settings.ROLE, settings.PORTAL_API_KEY = "clinic", ""
    assert "echoshare.E003" in _ids(checks.check_portal_key(None))
    settings.PORTAL_API_KEY = "esk_1234abcd_secret"
    assert checks.check_portal_key(None) == []


def test_retention_under_twenty_years_is_refused(settings) -> None:
    settings.RETENTION_YEARS = 19
    assert _ids(checks.check_retention(None)) == {"echoshare.E001"}
    settings.RETENTION_YEARS = 20
    assert checks.check_retention(None) == []


def _deploy_check(role: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ECHOSHARE_", "DATABASE_"))},
        "ECHOSHARE_ROLE": role,
        "ECHOSHARE_SECRET_KEY": secrets.token_urlsafe(50),
        "ECHOSHARE_ALLOWED_HOSTS": "portal.example.nl",
        "ECHOSHARE_SSL_REDIRECT": "yes",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "echoshare.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings_for_the_portal() -> None:
    result = _deploy_check("portal")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_passes_with_production_settings_for_the_clinic() -> None:
    result = _deploy_check(
        "clinic",
        ECHOSHARE_PORTAL_API_KEY="esk_1234abcd_secret",
        ECHOSHARE_EMAIL_BACKEND="smtp",
        ECHOSHARE_SMTP_HOST="mail.example.nl",
        ECHOSHARE_SMS_BACKEND="http",
        ECHOSHARE_SMS_HTTP_URL="https://sms.example.nl/send",
        ECHOSHARE_SMS_HTTP_TOKEN="t" * 32,
    )
    assert result.returncode == 0, result.stdout + result.stderr
