"""Serving a share's files: sessions (B2), Range, validators, x-accel offload, events."""

from __future__ import annotations

import pytest
from django.test import Client

from echoshare.portal.models import ShareEvent
from tests.patient.conftest import open_share
from tests.portal.factories import jpeg_bytes, make_share, mp4_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(media_client: Client) -> Client:
    return media_client


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content) if response.streaming else response.content


def _clip_url(share, token: str, kind: str = "full") -> str:  # type: ignore[no-untyped-def]
    return f"/s/{token}/m/{share.items.get(kind='clip').public_id}/{kind}"


def test_media_needs_the_password_in_this_session(client: Client, shared) -> None:
    share, token = shared
    response = client.get(_clip_url(share, token))
    assert response.status_code == 403
    assert response["Cache-Control"] == "no-store"


def test_one_shares_session_never_reaches_another_shares_media(client: Client, shared) -> None:
    share, token = shared
    other, other_token = make_share()
    open_share(client, token)
    assert client.get(_clip_url(share, token)).status_code == 200
    assert client.get(_clip_url(other, other_token)).status_code == 403
    assert client.get(f"/s/{other_token}/zip").status_code == 403
    # Its item ids under our token do not work either.
    foreign = other.items.get(kind="clip").public_id
    assert client.get(f"/s/{token}/m/{foreign}/full").status_code == 404


def test_a_wrong_token_gets_the_gone_page_for_media(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    item = share.items.get(kind="clip").public_id
    response = client.get(f"/s/{token[:-2]}xx/m/{item}/full")
    assert response.status_code == 404


def test_it_sends_the_whole_file_with_validators(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    response = client.get(_clip_url(share, token))
    assert response.status_code == 200
    assert _body(response) == mp4_bytes()
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(mp4_bytes()))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"].startswith('"')
    assert response["Last-Modified"].endswith("GMT")
    assert response["Cache-Control"] == "no-store"
    assert "Content-Disposition" not in response


def test_it_answers_a_range_with_206(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    size = len(mp4_bytes())
    response = client.get(_clip_url(share, token), HTTP_RANGE="bytes=0-1")
    assert response.status_code == 206
    assert _body(response) == mp4_bytes()[:2]
    assert response["Content-Range"] == f"bytes 0-1/{size}"
    assert response["Content-Length"] == "2"
    response = client.get(_clip_url(share, token), HTTP_RANGE="bytes=-10")
    assert _body(response) == mp4_bytes()[-10:]
    assert response["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"


def test_it_answers_416_for_a_range_past_the_end(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    size = len(mp4_bytes())
    response = client.get(_clip_url(share, token), HTTP_RANGE=f"bytes={size}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_it_answers_304_to_a_matching_etag_and_ignores_a_stale_if_range(
    client: Client, shared
) -> None:
    share, token = shared
    open_share(client, token)
    etag = client.get(_clip_url(share, token))["ETag"]
    assert client.get(_clip_url(share, token), HTTP_IF_NONE_MATCH=etag).status_code == 304
    stale = client.get(_clip_url(share, token), HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200
    fresh = client.get(_clip_url(share, token), HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=etag)
    assert fresh.status_code == 206


def test_thumbnails_and_posters_are_jpeg(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    poster = client.get(_clip_url(share, token, "poster"))
    assert poster["Content-Type"] == "image/jpeg"
    assert _body(poster) == jpeg_bytes()
    still = share.items.filter(kind="still").first()
    thumb = client.get(f"/s/{token}/m/{still.public_id}/thumb")
    assert _body(thumb) == jpeg_bytes(32, 24)
    assert client.get(f"/s/{token}/m/{still.public_id}/poster").status_code == 404
    assert client.get(f"/s/{token}/m/{still.public_id}/other").status_code == 404


def test_a_download_has_a_generic_name_and_is_recorded(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    response = client.get(_clip_url(share, token, "download"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="echo-clip-01.mp4"')
    clip = share.items.get(kind="clip")
    assert ShareEvent.objects.filter(share=share, kind="downloaded", item=clip).count() == 1
    client.get(_clip_url(share, token, "download"), HTTP_RANGE="bytes=100-")  # resumed
    client.get(_clip_url(share, token, "full"))  # watched, not downloaded
    assert ShareEvent.objects.filter(share=share, kind="downloaded").count() == 1


def test_x_accel_mode_hands_the_file_to_nginx(client: Client, shared, settings) -> None:
    share, token = shared
    settings.PORTAL_MEDIA_OFFLOAD = "x-accel"
    settings.PORTAL_X_ACCEL_PREFIX = "/protected-media/"
    open_share(client, token)
    clip = share.items.get(kind="clip")
    response = client.get(_clip_url(share, token, "download"))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{clip.file_key}"
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"].startswith('attachment; filename="echo-clip-01.mp4"')
    assert response.content == b""
    assert client.get(_clip_url(share, "x" * 22)).status_code == 404  # a wrong token


def test_media_ends_the_moment_the_share_is_deleted(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    assert client.get(_clip_url(share, token)).status_code == 200
    share.state = share.State.REVOKED
    share.save(update_fields=["state"])
    assert client.get(_clip_url(share, token)).status_code == 404


def test_head_gets_the_headers_of_a_get_without_a_body(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    head = client.head(_clip_url(share, token), HTTP_RANGE="bytes=0-9")
    assert head.status_code == 206
    assert head["Content-Length"] == "10"
    assert head["Content-Range"] == f"bytes 0-9/{len(mp4_bytes())}"
    assert head.content == b""


def test_an_unreadable_file_is_a_404_not_a_500(client: Client, shared, settings) -> None:
    share, token = shared
    open_share(client, token)
    clip = share.items.get(kind="clip")
    clip.path().unlink()
    clip.path().mkdir()  # something that cannot be opened as a file
    assert client.get(_clip_url(share, token)).status_code == 404
    settings.PORTAL_MEDIA_OFFLOAD = "x-accel"
    type(clip).objects.filter(pk=clip.pk).update(file_key="../../etc/passwd")
    assert client.get(_clip_url(share, token)).status_code == 404
