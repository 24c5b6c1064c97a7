"""The session engine: Django's database sessions, loaded with one written-out query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session

from echoshare.core.session_store import SessionStore

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _saved(data: dict[str, str], *, expires_in: timedelta) -> str:
    store = SessionStore()
    store.update(data)
    store.set_expiry(NOW + expires_in)
    store.save()
    assert store.session_key is not None
    return store.session_key


def test_it_is_the_configured_session_engine() -> None:
    assert settings.SESSION_ENGINE == "echoshare.core.session_store"


@time_machine.travel(NOW, tick=False)
def test_it_loads_a_live_session() -> None:
    key = _saved({"portal_opened_shares": "x"}, expires_in=timedelta(hours=1))
    store = SessionStore(session_key=key)
    assert store["portal_opened_shares"] == "x"
    assert store.session_key == key


def test_it_never_loads_an_expired_session_and_saves_under_a_new_key() -> None:
    with time_machine.travel(NOW, tick=False):
        key = _saved({"portal_opened_shares": "x"}, expires_in=timedelta(minutes=5))
    with time_machine.travel(NOW + timedelta(minutes=5, seconds=1), tick=False):
        store = SessionStore(session_key=key)
        assert "portal_opened_shares" not in store
        assert store.session_key is None
        store["portal_language"] = "en"
        store.save()
    assert store.session_key != key
    assert Session.objects.get(session_key=key).get_decoded() == {
        "portal_opened_shares": "x",
        "_session_expiry": (NOW + timedelta(minutes=5)).isoformat(),
    }


def test_an_unknown_or_forged_key_loads_nothing() -> None:
    for key in ("a" * 32, "not a key at all", "'; DROP TABLE django_session; --" + "x" * 8):
        store = SessionStore(session_key=key)
        assert store.load() == {}
    assert Session.objects.count() == 0
