"""One page for a wrong, expired, revoked or deleted link (B7, D1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from echoshare.portal.models import Share
from tests.portal.factories import make_share

pytestmark = pytest.mark.django_db


def _page(client: Client, token: str, suffix: str = "") -> tuple[int, str]:
    """Status and body, with the visitor's own path (in the language links) left out."""
    path = f"/s/{token}{suffix}"
    response = client.get(path)
    return response.status_code, response.content.decode().replace(path, "PATH")


def test_wrong_expired_revoked_and_deleted_links_look_the_same(client: Client, db: None) -> None:
    _expiring, expiring_token = make_share(expires_at=timezone.now() + timedelta(hours=1))
    revoked, revoked_token = make_share()
    deleted, deleted_token = make_share()
    Share.objects.filter(pk=revoked.pk).update(state=Share.State.REVOKED)
    Share.objects.filter(pk=deleted.pk).update(state=Share.State.DELETED_BY_PATIENT)
    wrong = _page(client, "A" * 22)
    assert wrong[0] == 404
    assert "Deze link is verlopen of verwijderd" in wrong[1]
    assert _page(client, revoked_token) == wrong
    assert _page(client, deleted_token) == wrong
    assert _page(client, "x") == wrong
    with time_machine.travel(timezone.now() + timedelta(hours=2)):  # the purge never ran
        assert _page(client, expiring_token) == wrong


def test_the_gone_page_names_no_clinic_and_offers_no_delete(client: Client, db: None) -> None:
    share, token = make_share()
    Share.objects.filter(pk=share.pk).update(state=Share.State.REVOKED)
    body = client.get(f"/s/{token}").content.decode()
    assert share.clinic.name not in body
    assert "/delete" not in body


def test_every_page_of_a_dead_link_is_the_gone_page(client: Client, db: None) -> None:
    share, token = make_share()
    item = share.items.first()
    Share.objects.filter(pk=share.pk).update(state=Share.State.REVOKED)
    gone = _page(client, token)[1]
    for suffix in (
        "/gallery",
        "/delete",
        f"/photo/{item.public_id}",
        f"/m/{item.public_id}/full",
        "/zip",
    ):
        assert _page(client, token, suffix) == (404, gone), suffix


def test_the_gone_page_speaks_english_when_asked(client: Client, db: None) -> None:
    body = client.get("/s/unknown-token-123?lang=en").content.decode()
    assert "This link has expired or was removed" in body
