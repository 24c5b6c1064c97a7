"""Staff login: password and TOTP code together, lockout with backoff, audit, logout."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from tests.clinic.staff import PASSWORD, current_code, make_staff

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def travel():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def anna():
    return make_staff("anna", "sonographer")


def _login(client: Client, username: str, password: str, code: str, **extra):
    return client.post(
        "/staff/login/",
        {"username": username, "password": password, "otp_code": code, **extra},
        headers={"accept-language": "en"},
    )


def test_it_logs_in_with_password_and_current_code(travel, anna):
    user, device = anna
    client = Client(enforce_csrf_checks=False)
    response = _login(client, "anna", PASSWORD, current_code(device), next="/staff/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/staff/admin/"
    home = client.get("/staff/")
    assert home.status_code == 200
    assert home.wsgi_request.user == user
    assert home.wsgi_request.user.is_verified()
    record = AuditRecord.objects.get(event=events.LOGIN)
    assert (record.user, record.outcome) == (user, "success")
    assert record.source.startswith("web:")


def test_behind_a_trusted_proxy_the_audit_names_the_forwarded_address(travel, anna, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    forwarded = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    _login(forwarded, "anna", PASSWORD, "000000")
    spoofed = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    _login(spoofed, "anna", PASSWORD, "000000")  # not a trusted proxy: its header is ignored
    sources = list(
        AuditRecord.objects.filter(event=events.LOGIN_FAILED)
        .order_by("seq")
        .values_list("source", flat=True)
    )
    assert sources == ["web:203.0.113.7", "web:198.51.100.9"]


def test_the_login_form_is_protected_by_csrf(travel, anna):
    _, device = anna
    client = Client(enforce_csrf_checks=True)
    response = _login(client, "anna", PASSWORD, current_code(device))
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_an_outside_next_url_is_ignored(travel, anna):
    _, device = anna
    response = _login(Client(), "anna", PASSWORD, current_code(device), next="https://evil.test/")
    assert response["Location"] == "/staff/"


def test_a_wrong_code_is_refused_and_audited_without_saying_which_part_was_wrong(travel, anna):
    user, device = anna
    wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
    client = Client()
    response = _login(client, "anna", PASSWORD, wrong)
    assert response.status_code == 401
    assert "_auth_user_id" not in client.session
    assert b"User name, password or code is not correct." in response.content
    record = AuditRecord.objects.get(event=events.LOGIN_FAILED)
    assert (record.user, record.outcome, record.detail) == (
        user,
        "failure",
        "wrong second-factor code",
    )


def test_a_wrong_password_with_a_right_code_is_refused(travel, anna):
    user, device = anna
    response = _login(Client(), "anna", "not the password", current_code(device))
    assert response.status_code == 401
    assert AuditRecord.objects.get(event=events.LOGIN_FAILED).user == user


def test_an_unknown_account_is_refused_and_its_name_is_not_recorded(travel):
    response = _login(Client(), "my secret password", PASSWORD, "123456")
    assert response.status_code == 401
    record = AuditRecord.objects.get(event=events.LOGIN_FAILED)
    assert record.user is None
    assert "my secret password" not in f"{record.detail}{record.username}{record.object_ref}"


def test_a_password_only_account_without_staff_flag_cannot_log_in(travel, anna):
    user, device = anna
    User.objects.filter(pk=user.pk).update(is_staff=False)
    assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 401


def test_a_malformed_code_is_a_form_error(travel, anna):
    response = _login(Client(), "anna", PASSWORD, "12ab56")
    assert response.status_code == 400
    assert b"6-digit code" in response.content


def test_a_right_code_right_after_a_wrong_one_is_accepted(travel, anna):
    _, device = anna
    assert _login(Client(), "anna", PASSWORD, "000000").status_code == 401
    assert _login(Client(), "anna", PASSWORD, "000001").status_code == 401
    assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 302


def test_the_same_code_cannot_be_used_twice(travel, anna):
    _, device = anna
    code = current_code(device)
    assert _login(Client(), "anna", PASSWORD, code).status_code == 302
    assert _login(Client(), "anna", PASSWORD, code).status_code == 401


class TestLockout:
    def _fail(self, times: int) -> None:
        for _ in range(times):
            _login(Client(), "anna", "wrong password!", "000000")

    def test_five_failures_lock_the_account_even_for_the_right_code(self, travel, anna):
        _, device = anna
        self._fail(5)
        response = _login(Client(), "anna", PASSWORD, current_code(device))
        assert response.status_code == 429
        assert response["Retry-After"] == "60"
        assert b"Too many failed attempts" in response.content
        assert AuditRecord.objects.filter(event=events.LOGIN_LOCKED, outcome="denied").count()

    def test_the_lock_ends_after_its_time_and_grows_with_each_failure(self, travel, anna):
        _, device = anna
        self._fail(5)
        travel.shift(61)
        self._fail(1)  # the sixth failure: locked for 120 s
        travel.shift(61)
        assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 429
        travel.shift(60)
        assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 302

    def test_a_successful_login_resets_the_count(self, travel, anna):
        _, device = anna
        self._fail(4)
        assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 302
        travel.shift(30)
        self._fail(4)
        travel.shift(30)
        assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 302

    def test_failures_a_day_apart_do_not_add_up(self, travel, anna):
        _, device = anna
        for _ in range(5):
            self._fail(1)
            travel.shift(dt.timedelta(days=1, seconds=1))
        self._fail(1)  # counted together with the old ones this would be the sixth: locked
        assert _login(Client(), "anna", PASSWORD, current_code(device)).status_code == 302
        from echoshare.clinic.models import LoginThrottle

        assert not LoginThrottle.objects.exists()

    def test_the_lock_is_per_account(self, travel, anna):
        make_staff("bert", "frontdesk")
        self._fail(5)
        from echoshare.clinic.accounts import lockout_remaining

        assert lockout_remaining("anna") == 60
        assert lockout_remaining("bert") == 0


def test_logout_is_audited_and_ends_the_session(travel, anna):
    user, device = anna
    client = Client()
    _login(client, "anna", PASSWORD, current_code(device))
    response = client.post("/staff/logout/")
    assert response.status_code == 302
    assert AuditRecord.objects.get(event=events.LOGOUT).user == user
    assert client.get("/staff/").status_code == 302


def test_logout_by_get_is_not_allowed(travel, anna):
    assert Client().get("/staff/logout/").status_code == 405


@pytest.mark.parametrize(
    ("language", "heading"), [("en", b"Staff login"), ("nl", b"Inloggen voor medewerkers")]
)
def test_the_login_page_speaks_dutch_and_english(language, heading):
    response = Client().get("/staff/login/", headers={"accept-language": language})
    assert response.status_code == 200
    assert heading in response.content
