"""Headers on every patient response (B6) and no token in the logs (G2)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from echoshare.core.middleware import CSP
from echoshare.portal.models import Share
from tests.patient.conftest import open_share, post_form

pytestmark = pytest.mark.django_db


# Per CSP directive, the only sources allowed: our own origin, nothing, and for pictures and
# media the data:/blob: URLs the gallery makes itself. A directive not listed here (say a
# new frame-src or connect-src with a third-party host) fails the test until it is added.
_OWN = frozenset({"'self'", "'none'"})
_OWN_AND_LOCAL = _OWN | {"data:", "blob:"}
CSP_ALLOWED = {
    "default-src": _OWN,
    "img-src": _OWN_AND_LOCAL,
    "media-src": _OWN_AND_LOCAL,
    "style-src": _OWN,
    "script-src": _OWN,
    "font-src": _OWN,
    "connect-src": _OWN,
    "manifest-src": _OWN,
    "worker-src": _OWN,
    "form-action": _OWN,
    "object-src": frozenset({"'none'"}),
    "base-uri": frozenset({"'none'"}),
    "frame-ancestors": frozenset({"'none'"}),
}
CSP_REQUIRED = {"default-src", "object-src", "base-uri", "frame-ancestors"}


def csp_directives(csp: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if not words:
            continue
        name, *sources = words
        assert name.lower() not in directives, f"{name} given twice"
        directives[name.lower()] = sources
    return directives


def _assert_csp(csp: str) -> None:
    directives = csp_directives(csp)
    assert CSP_REQUIRED <= directives.keys(), csp
    for name, sources in directives.items():
        assert name in CSP_ALLOWED, f"directive {name} is not on the allow-list"
        assert sources, f"{name} without a source"
        for source in sources:
            assert source.lower() in CSP_ALLOWED[name], f"{name} allows {source}"


def _assert_every_response(response) -> None:  # type: ignore[no-untyped-def]
    """B6 on any response, share page or not, fetched over HTTPS."""
    _assert_csp(response["Content-Security-Policy"])
    assert response["X-Content-Type-Options"] == "nosniff"
    # The form pages send the origin only, so that the POST carries a real Origin header.
    assert response["Referrer-Policy"] in ("no-referrer", "strict-origin")
    assert "noindex" in response["X-Robots-Tag"]
    hsts = response["Strict-Transport-Security"]
    assert hsts.startswith(f"max-age={settings.SECURE_HSTS_SECONDS}"), hsts
    assert settings.SECURE_HSTS_SECONDS >= 31536000


def _assert_b6(response) -> None:  # type: ignore[no-untyped-def]
    _assert_every_response(response)
    assert response["Cache-Control"] == "no-store"


class _HttpsClient(Client):
    """A browser on https://testserver: every request secure (so HSTS is due), CSRF checked,
    with the Origin header browsers send on a POST (Django checks it over HTTPS)."""

    def __init__(self) -> None:
        super().__init__(enforce_csrf_checks=True, headers={"Origin": "https://testserver"})

    def generic(self, *args: Any, **kwargs: Any) -> Any:
        return super().generic(*args, **{**kwargs, "secure": True})


@pytest.fixture
def https_client() -> Client:
    return _HttpsClient()


@pytest.mark.parametrize(
    "csp",
    [
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "script-src 'self' https://cdn.example.com",
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "style-src 'self' 'unsafe-inline'",
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "script-src data:",
        "default-src 'self'; frame-ancestors *; object-src 'none'; base-uri 'none'",
        "default-src 'self'; object-src 'none'; base-uri 'none'",
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "frame-src 'self'",
        "default-src *; frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
    ],
)
def test_the_csp_check_refuses_weak_policies(csp: str) -> None:
    with pytest.raises(AssertionError):
        _assert_csp(csp)


def test_the_csp_in_use_passes_the_check() -> None:
    _assert_csp(CSP)


def test_every_patient_response_carries_the_security_headers(
    https_client: Client, shared, settings
) -> None:
    client = https_client
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


def test_responses_outside_the_share_pages_carry_the_headers_too(
    https_client: Client, settings
) -> None:
    settings.SECURE_SSL_REDIRECT = False
    answers = {
        "/api/v1/events": 401,  # no API key
        "/api/v1/shares/no-such-share": 401,
        "/no-such-page": 404,
        "/s/": 404,
        "/static/portal/portal.css": 200,
    }
    for path, status in answers.items():
        response = https_client.get(path)
        assert response.status_code == status, (path, response.status_code)
        _assert_every_response(response)
    health = https_client.get("/healthz")
    assert health.status_code in (200, 503)  # the headers matter here, not the health
    _assert_every_response(health)
    assert "no-store" in health["Cache-Control"]


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
