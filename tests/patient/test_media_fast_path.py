"""The hot path of photos and thumbnails keeps the access rules (B2, B5, D1) and never
writes: no session save, no event except a fresh download."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from echoshare.portal.models import Share, ShareEvent
from tests.patient.conftest import open_share

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(media_client: Client) -> Client:
    return media_client


def _url(share: Share, token: str, kind: str, item_kind: str = "still") -> str:
    item = share.items.filter(kind=item_kind).first()
    assert item is not None
    return f"/s/{token}/m/{item.public_id}/{kind}"


def test_media_ends_when_the_share_expires_even_if_the_session_lives_on(
    client: Client, shared
) -> None:
    share, token = shared
    open_share(client, token)
    assert client.get(_url(share, token, "full")).status_code == 200
    # The session was given the share's expiry; move only the share's (D1 checks the share).
    Share.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(_url(share, token, "full")).status_code == 404
    assert client.get(_url(share, token, "thumb")).status_code == 404


def test_a_photo_get_never_writes_the_session(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    before = list(Session.objects.values_list("session_key", "session_data", "expire_date"))
    for kind in ("full", "thumb", "download"):
        response = client.get(_url(share, token, kind))
        assert response.status_code == 200
        assert "sessionid" not in response.cookies
    after = list(Session.objects.values_list("session_key", "session_data", "expire_date"))
    assert after == before


def test_only_a_fresh_download_is_recorded(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    for kind, item_kind in (("full", "still"), ("thumb", "still"), ("poster", "clip")):
        assert client.get(_url(share, token, kind, item_kind)).status_code == 200
    assert client.head(_url(share, token, "download")).status_code == 200
    assert not ShareEvent.objects.filter(kind=ShareEvent.Kind.DOWNLOADED).exists()
    assert client.get(_url(share, token, "download")).status_code == 200
    event = ShareEvent.objects.get(kind=ShareEvent.Kind.DOWNLOADED)
    still = share.items.filter(kind="still").first()
    assert event.share_id == share.pk and event.item == still
    assert event.item_public_id == still.public_id and event.clinic_id == share.clinic_id


def test_a_session_without_the_password_gets_403_on_every_kind(client: Client, shared) -> None:
    share, token = shared
    client.get(f"/s/{token}")  # a session exists, but the password was never given
    for kind in ("full", "thumb", "download"):
        assert client.get(_url(share, token, kind)).status_code == 403
    assert not ShareEvent.objects.filter(kind=ShareEvent.Kind.DOWNLOADED).exists()
