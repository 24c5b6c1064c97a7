"""The gallery and the photo page: what the patient sees after the password."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from echoshare.portal.models import ShareItem
from tests.patient.conftest import open_share
from tests.portal.factories import make_share

pytestmark = pytest.mark.django_db


def test_it_sends_a_visitor_without_the_password_to_the_link_page(client: Client, shared) -> None:
    _share, token = shared
    response = client.get(f"/s/{token}/gallery")
    assert response.status_code == 302
    assert response["Location"] == f"/s/{token}"


def test_it_shows_every_photo_and_the_clip(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery").content.decode()
    for item in share.items.all():
        assert f"/s/{token}/m/{item.public_id}/download" in body
        if item.kind == ShareItem.Kind.STILL:
            assert f'src="/s/{token}/m/{item.public_id}/thumb"' in body
            assert f'href="/s/{token}/photo/{item.public_id}"' in body
    assert 'alt="Echofoto 1"' in body and 'alt="Echofoto 2"' in body


def test_the_clip_plays_inline_with_a_poster_and_no_sound(client: Client, shared) -> None:
    share, token = shared
    clip = share.items.get(kind="clip")
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery").content.decode()
    video = re.search(r"<video[^>]*>", body)
    assert video is not None
    assert "playsinline" in video.group()
    assert "controls" in video.group()
    assert "muted" in video.group()
    assert f'poster="/s/{token}/m/{clip.public_id}/poster"' in video.group()
    assert f'<source src="/s/{token}/m/{clip.public_id}/full" type="video/mp4">' in body


@time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC")), tick=True)
def test_it_says_until_when_and_advises_wifi(client: Client, db: None) -> None:
    expires_at = datetime(2027, 1, 27, 0, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    _share, token = make_share(expires_at=expires_at)
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery").content.decode()
    assert "Beschikbaar tot en met 26 januari 2027" in body  # the last day it still works
    assert "download ze via wifi of op een computer" in body
    english = client.get(f"/s/{token}/gallery?lang=en").content.decode()
    assert "Available until 26 January 2027" in english
    assert "download them on Wi-Fi or on a computer" in english


def test_it_offers_download_all_with_the_zip_size(client: Client, shared) -> None:
    _share, token = shared
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery?lang=en").content.decode()
    assert f'href="/s/{token}/zip"' in body
    assert "Download all (zip," in body


def test_save_to_photos_is_hidden_until_the_script_finds_web_share(client: Client, shared) -> None:
    share, token = shared
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery").content.decode()
    button = re.search(r'<button type="button" id="save-to-photos"[^>]*>', body)
    assert button is not None and " hidden " in button.group()
    files = json.loads(
        re.search(r'data-files="([^"]*)"', button.group()).group(1).replace("&quot;", '"')
    )
    assert [f["name"] for f in files] == [i.file_name for i in share.items.order_by("position")]
    assert {f["type"] for f in files} == {"image/jpeg", "video/mp4"}


def test_download_names_are_generic(client: Client, shared) -> None:
    _share, token = shared
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery").content.decode()
    names = set(re.findall(r'download="([^"]+)"', body))
    assert names == {"echo-01.jpg", "echo-02.jpg", "echo-clip-01.mp4", "echo.zip"}


def test_the_photo_page_shows_one_photo_with_previous_and_next(client: Client, shared) -> None:
    share, token = shared
    first, second = share.items.filter(kind="still").order_by("position")
    open_share(client, token)
    body = client.get(f"/s/{token}/photo/{first.public_id}").content.decode()
    assert (
        f'<img src="/s/{token}/m/{first.public_id}/full" alt="Echofoto 1" draggable="false">'
        in body
    )
    assert f'href="/s/{token}/photo/{second.public_id}" data-next' in body
    assert "data-prev" not in body
    body = client.get(f"/s/{token}/photo/{second.public_id}").content.decode()
    assert f'href="/s/{token}/photo/{first.public_id}" data-prev' in body
    assert "data-next" not in body


def test_the_photo_page_refuses_a_clip_or_another_shares_photo(client: Client, shared) -> None:
    share, token = shared
    other, _other_token = make_share()
    open_share(client, token)
    clip = share.items.get(kind="clip")
    foreign = other.items.get(kind="still")
    assert client.get(f"/s/{token}/photo/{clip.public_id}").status_code == 404
    assert client.get(f"/s/{token}/photo/{foreign.public_id}").status_code == 404


def test_the_gallery_has_the_delete_menu_too(client: Client, shared) -> None:
    _share, token = shared
    open_share(client, token)
    body = client.get(f"/s/{token}/gallery").content.decode()
    assert f'href="/s/{token}/delete"' in body
