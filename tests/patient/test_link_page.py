"""The link page: clinic name and logo, the password form, sessions (B2, B3, B5, C1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from echoshare.portal.models import Share, ShareEvent
from tests.patient.conftest import open_share, post_form
from tests.portal.factories import jpeg_bytes, make_share

pytestmark = pytest.mark.django_db


def test_it_asks_for_the_password_in_the_shares_language(client: Client, shared) -> None:
    share, token = shared
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="nl">' in body
    assert "Wachtwoord controleren" in body
    assert share.clinic.name in body
    assert '<label for="password">Wachtwoord</label>' in body
    assert response["Content-Language"] == "nl"


def test_it_speaks_english_for_an_english_share(client: Client, db: None) -> None:
    _share, token = make_share(language="en")
    body = client.get(f"/s/{token}").content.decode()
    assert "Verify password" in body
    assert '<html lang="en">' in body


def test_it_switches_language_without_javascript_and_remembers_it(client: Client, shared) -> None:
    _share, token = shared
    body = client.get(f"/s/{token}?lang=en").content.decode()
    assert "Verify password" in body
    assert f'href="/s/{token}?lang=nl"' in body  # the way back keeps the token
    assert "Verify password" in client.get(f"/s/{token}").content.decode()
    assert "Wachtwoord controleren" in client.get(f"/s/{token}?lang=nl").content.decode()


def test_it_ignores_an_unknown_language(client: Client, shared) -> None:
    _share, token = shared
    assert "Wachtwoord controleren" in client.get(f"/s/{token}?lang=xx").content.decode()


def test_it_shows_the_clinic_logo(client: Client, shared) -> None:
    share, token = shared
    share.clinic.logo.save("logo.png", ContentFile(jpeg_bytes()), save=True)
    body = client.get(f"/s/{token}").content.decode()
    assert f'src="/s/{token}/logo"' in body
    logo = client.get(f"/s/{token}/logo")
    assert logo.status_code == 200
    assert b"".join(logo.streaming_content) == jpeg_bytes()


def test_it_has_the_delete_menu_before_the_password(client: Client, shared) -> None:
    _share, token = shared
    body = client.get(f"/s/{token}").content.decode()
    assert "<summary>Menu</summary>" in body
    assert f'href="/s/{token}/delete"' in body
    assert ">Verwijderen</a>" in body


def test_right_password_opens_the_gallery(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    response = client.get(f"/s/{token}/gallery")
    assert response.status_code == 200
    assert ShareEvent.objects.filter(share=share, kind="opened").count() == 1


def test_right_password_rotates_the_session_key(client: Client, shared) -> None:
    _share, token = shared
    client.get(f"/s/{token}?lang=en")  # a session exists before the password
    before = client.session.session_key
    open_share(client, token)
    assert before and client.session.session_key != before


def test_the_session_expires_no_later_than_the_share(client: Client, db: None) -> None:
    expires_at = timezone.now() + timedelta(days=3)
    share, token = make_share(expires_at=expires_at)
    open_share(client, token)
    assert client.session.get_expiry_date() <= share.expires_at
    assert client.session.get_expiry_date() > timezone.now() + timedelta(days=2)
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"]  # production default: cookies only over HTTPS


def test_wrong_password_is_refused_and_opens_nothing(client: Client, shared) -> None:
    share, token = shared
    response = post_form(client, f"/s/{token}", {"password": "wrong-one"})
    assert response.status_code == 403
    assert "Dit wachtwoord klopt niet" in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert client.get(f"/s/{token}/gallery").status_code == 302
    share.refresh_from_db()
    assert share.failed_password_count == 1


def test_the_tenth_wrong_password_locks_with_retry_after(client: Client, shared) -> None:
    share, token = shared
    Share.objects.filter(pk=share.pk).update(failed_password_count=9)
    response = post_form(client, f"/s/{token}", {"password": "wrong-one"})
    assert response.status_code == 429
    response = post_form(client, f"/s/{token}", {"password": "Kx7mPq4R"})  # even the right one
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Probeer het over" in response.content.decode()


def test_a_hard_locked_share_sends_the_patient_to_the_clinic(client: Client, shared) -> None:
    share, token = shared
    Share.objects.filter(pk=share.pk).update(hard_locked=True)
    response = post_form(client, f"/s/{token}", {"password": "whatever"})
    assert response.status_code == 403
    assert f"Bel {share.clinic.name}" in response.content.decode()


def test_get_never_counts_as_an_attempt(client: Client, shared) -> None:
    share, token = shared
    for _ in range(20):
        client.get(f"/s/{token}?password=wrong")
    share.refresh_from_db()
    assert share.failed_password_count == 0
    assert share.locked_until is None


def test_password_post_without_csrf_token_is_refused(client: Client, shared) -> None:
    share, token = shared
    response = client.post(f"/s/{token}", {"password": "Kx7mPq4R"})
    assert response.status_code == 403
    share.refresh_from_db()
    assert share.failed_password_count == 0


def test_an_opened_session_goes_straight_to_the_gallery(client: Client, shared) -> None:
    _share, token = shared
    open_share(client, token)
    response = client.get(f"/s/{token}")
    assert response.status_code == 302
    assert response["Location"] == reverse("patient:gallery", args=[token])


def test_the_session_holds_no_secret(client: Client, shared) -> None:
    _share, token = shared
    open_share(client, token)
    stored = str(client.session.load())
    assert token not in stored
    assert "Kx7mPq4R" not in stored


def test_a_burst_from_one_address_gets_429_without_locking_the_share(
    client: Client, shared, settings
) -> None:
    share, token = shared
    settings.PORTAL_BURST_LIMIT = 2
    for _ in range(2):
        assert post_form(client, f"/s/{token}", {"password": "wrong-one"}).status_code == 403
    response = post_form(client, f"/s/{token}", {"password": "Kx7mPq4R"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    share.refresh_from_db()
    assert share.failed_password_count == 2  # the refused attempt was not even tried
    other = Client(enforce_csrf_checks=True, REMOTE_ADDR="192.0.2.7")
    open_share(other, token)  # another address is not slowed down
