"""The media shortcut in front of Django (echoshare.portal.media_shortcut) answers only
authorized photo requests, with Django's headers; everything else reaches Django.

The media tests (test_media.py, test_media_fast_path.py) also run through it; these tests
check which of the two answers, and that both answer alike."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db.utils import OperationalError
from django.test import Client

from echoshare.portal import media_shortcut
from echoshare.portal.media_shortcut import MediaShortcut
from echoshare.portal.models import Share
from tests.patient.conftest import ShortcutClient, connections_kept, open_share
from tests.portal.factories import jpeg_bytes, mp4_bytes

pytestmark = pytest.mark.django_db

# Headers the stack adds for the language of the pages; a file's bytes do not depend on it.
LANGUAGE_HEADERS = {"Vary", "Content-Language"}


@pytest.fixture
def shortcut() -> ShortcutClient:
    return ShortcutClient(enforce_csrf_checks=True)


def _url(share: Share, token: str, kind: str, item_kind: str = "still") -> str:
    item = share.items.filter(kind=item_kind).first()
    assert item is not None
    return f"/s/{token}/m/{item.public_id}/{kind}"


@pytest.mark.parametrize(
    ("kind", "item_kind", "extra", "status"),
    [
        ("full", "still", {}, 200),
        ("thumb", "still", {}, 200),
        ("poster", "clip", {}, 200),
        ("full", "clip", {"HTTP_RANGE": "bytes=0-9"}, 206),
    ],
)
def test_it_answers_authorized_photos_with_the_headers_django_sends(
    shortcut: ShortcutClient, shared, kind: str, item_kind: str, extra: dict[str, str], status: int
) -> None:
    share, token = shared
    open_share(shortcut, token)
    fast = shortcut.get(_url(share, token, kind, item_kind), **extra)
    assert fast.answered_by == "shortcut"
    assert fast.status_code == status
    slow = Client.request(shortcut, **fast.request)  # the same request through Django
    assert slow.status_code == status
    assert fast.content == b"".join(slow.streaming_content)
    fast_headers = {k: v for k, v in fast.items() if k not in LANGUAGE_HEADERS}
    slow_headers = {k: v for k, v in slow.items() if k not in LANGUAGE_HEADERS}
    assert fast_headers == slow_headers
    assert "Cookie" in fast["Vary"]


def test_over_https_it_sends_hsts_as_django_does(shortcut: ShortcutClient, shared) -> None:
    share, token = shared
    open_share(shortcut, token)
    fast = shortcut.get(_url(share, token, "full"), secure=True)
    assert fast.answered_by == "shortcut"
    slow = Client.request(shortcut, **fast.request)
    assert fast["Strict-Transport-Security"] == slow["Strict-Transport-Security"]
    assert "max-age=" in fast["Strict-Transport-Security"]


def test_head_gets_the_headers_without_a_body(shortcut: ShortcutClient, shared) -> None:
    share, token = shared
    open_share(shortcut, token)
    head = shortcut.head(_url(share, token, "full"))
    assert head.answered_by == "shortcut"
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Length"] == str(len(jpeg_bytes()))


def test_everything_but_an_authorized_photo_goes_to_django(
    shortcut: ShortcutClient, shared, settings
) -> None:
    share, token = shared
    assert shortcut.get(_url(share, token, "full")).answered_by == "django"  # no session
    shortcut.get(f"/s/{token}")
    assert shortcut.get(_url(share, token, "full")).answered_by == "django"  # no password
    open_share(shortcut, token)
    photo = _url(share, token, "full")
    declined = [
        shortcut.get(_url(share, token, "download")),  # records an event: Django's view
        shortcut.get(photo.replace(token, token[:-2] + "xx")),  # a wrong token
        shortcut.get(_url(share, token, "poster")),  # a still has no poster: 404
        shortcut.get(photo, HTTP_RANGE="bytes=999999-"),  # 416
        shortcut.get(photo, HTTP_IF_NONE_MATCH=shortcut.get(photo)["ETag"]),  # 304
        shortcut.get(photo, HTTP_HOST="evil.example"),  # not an allowed host: 400
        shortcut.post(photo),  # not GET or HEAD: 405 (or 403 for the CSRF check)
        shortcut.get(photo + "/"),
    ]
    assert [r.answered_by for r in declined] == ["django"] * len(declined)
    assert [r.status_code for r in declined][:6] == [200, 404, 404, 416, 304, 400]
    settings.SECURE_SSL_REDIRECT = True
    fresh = ShortcutClient()  # Django's middleware reads the setting when it is loaded
    fresh.cookies = shortcut.cookies
    redirected = fresh.get(photo)
    assert redirected.answered_by == "django" and redirected.status_code == 301
    assert fresh.get(photo, secure=True).answered_by == "shortcut"


def test_a_deleted_session_ends_access_at_once(shortcut: ShortcutClient, shared) -> None:
    share, token = shared
    open_share(shortcut, token)
    assert shortcut.get(_url(share, token, "full")).answered_by == "shortcut"
    Session.objects.all().delete()  # the session's data was decoded before: not trusted now
    response = shortcut.get(_url(share, token, "full"))
    assert response.answered_by == "django" and response.status_code == 403


def _environ(client: Client, path: str) -> dict[str, Any]:
    environ = client._base_environ(PATH_INFO=path, REQUEST_METHOD="GET")  # type: ignore[attr-defined]
    environ["wsgi.input"] = io.BytesIO()
    return environ


def test_as_wsgi_middleware_it_streams_the_file_or_hands_over(
    shortcut: ShortcutClient, shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    share, token = shared
    open_share(shortcut, token)
    handed_over: list[str] = []

    def django(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        handed_over.append(environ["PATH_INFO"])
        start_response("403 Forbidden", [])
        return [b"django"]

    app = MediaShortcut(django)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    clip = _url(share, token, "full", "clip")
    with connections_kept():
        body = b"".join(app(_environ(shortcut, clip), lambda s, h: started.append((s, h))))
    assert body == mp4_bytes() and started[0][0] == "200 OK" and not handed_over
    assert ("Content-Length", str(len(mp4_bytes()))) in started[0][1]

    def broken(*args: object, **kwargs: object) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(media_shortcut, "open_item", broken)
    with connections_kept():
        body = b"".join(app(_environ(shortcut, clip), lambda s, h: started.append((s, h))))
    assert body == b"django" and handed_over == [clip]  # a failure is Django's to answer


def test_the_portals_wsgi_application_has_the_shortcut_in_front() -> None:
    from echoshare.wsgi import application

    assert isinstance(application, MediaShortcut)
