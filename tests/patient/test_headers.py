"""Headers on every patient response (B6) and no token in the logs (G2)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from echoshare.portal.models import Share
from tests.patient.conftest import open_share, post_form

pytestmark = pytest.mark.django_db


def _assert_b6(response) -> None:  # type: ignore[no-untyped-def]
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no third-party source
    assert response["X-Content-Type-Options"] == "nosniff"
    # The form pages send the origin only, so that the POST carries a real Origin header.
    assert response["Referrer-Policy"] in ("no-referrer", "strict-origin")
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Cache-Control"] == "no-store"


def test_every_patient_response_carries_the_security_headers(
    client: Client, shared, settings
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    share, token = shared
    item = share.items.get(kind="clip")
    responses = [
        client.get("/s/nonexistent-token"),
        client.get(f"/s/{token}"),
        client.get(f"/s/{token}/delete"),
        client.get(f"/s/{token}/m/{item.public_id}/full"),  # 403 before the password
        post_form(client, f"/s/{token}", {"password": "wrong"}),
    ]
    open_share(client, token)
    responses += [
        client.get(f"/s/{token}/gallery"),
        client.get(f"/s/{token}/photo/{share.items.filter(kind='still').first().public_id}"),
        client.get(f"/s/{token}/m/{item.public_id}/full"),
        client.get(f"/s/{token}/m/{item.public_id}/full", HTTP_RANGE="bytes=0-3"),
        client.get(f"/s/{token}/zip"),
        post_form(client, f"/s/{token}/delete", {"code": "ZZZZ", "confirm": "yes"}),
    ]
    for response in responses:
        _assert_b6(response)


def test_pages_without_a_form_send_no_referrer_at_all(client: Client, shared) -> None:
    _share, token = shared
    assert client.get("/s/nonexistent-token")["Referrer-Policy"] == "no-referrer"
    open_share(client, token)
    assert client.get(f"/s/{token}/gallery")["Referrer-Policy"] == "no-referrer"
    assert client.get(f"/s/{token}")["Referrer-Policy"] == "no-referrer"  # the redirect
    assert client.get(f"/s/{token}/delete")["Referrer-Policy"] == "strict-origin"


def test_hsts_is_sent_over_https(client: Client, shared) -> None:
    _share, token = shared
    response = client.get(f"/s/{token}", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=")


def test_no_token_or_password_reaches_the_logs(client: Client, shared, caplog) -> None:
    _share, token = shared
    caplog.set_level(logging.DEBUG)
    for record_handler in logging.getLogger().handlers:
        record_handler.setLevel(logging.DEBUG)
    client.get("/s/some-wrong-token-1234567")
    post_form(client, f"/s/{token}", {"password": "wrong-password"})
    open_share(client, token)
    client.get(f"/s/{token}/zip")
    text = caplog.text
    assert token not in text
    assert "wrong-password" not in text


def test_no_get_changes_the_share(client: Client, shared) -> None:
    """B5: links are fetched by mail scanners and previews; only events may be recorded."""
    share, token = shared
    before = Share.objects.values().get(pk=share.pk)
    item = share.items.get(kind="clip")
    urls = [
        f"/s/{token}?password=Kx7mPq4R",
        f"/s/{token}/delete?code=AB7K&confirm=yes",
        f"/s/{token}/gallery",
        f"/s/{token}/zip",
    ]
    for url in urls:
        client.get(url)
    open_share(client, token)
    after_password = Share.objects.values().get(pk=share.pk)
    for url in [*urls, f"/s/{token}/m/{item.public_id}/download", f"/s/{token}/photo/x"]:
        client.get(url)
    assert Share.objects.values().get(pk=share.pk) == after_password == before
