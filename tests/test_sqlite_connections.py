"""SQLite connections persist per thread (CONN_MAX_AGE) and each new one gets the PRAGMAs.

Built from the settings' own DATABASE_URL parser, so it holds whichever database the suite
itself runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db.utils import ConnectionHandler

from echoshare.settings import _database


def _sqlite(path: Path) -> ConnectionHandler:
    return ConnectionHandler({"default": _database(f"sqlite:///{path}")})


def _pragmas(handler: ConnectionHandler) -> dict[str, object]:
    with handler["default"].cursor() as cursor:
        found: dict[str, object] = {}
        for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"):
            cursor.execute(f"PRAGMA {name}")
            found[name] = cursor.fetchone()[0]
    return found


@pytest.fixture(autouse=True)
def _own_database(django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """These connections go to a file of the test's own, not to the test database."""
    with django_db_blocker.unblock():
        yield


WANTED = {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30000, "foreign_keys": 1}


def test_it_keeps_the_connection_between_requests(tmp_path: Path) -> None:
    handler = _sqlite(tmp_path / "db.sqlite3")
    wrapper = handler["default"]
    assert wrapper.settings_dict["CONN_MAX_AGE"] >= 60
    assert wrapper.settings_dict["CONN_HEALTH_CHECKS"] is True
    wrapper.ensure_connection()
    opened = wrapper.connection
    # What Django runs at the end and start of every request.
    wrapper.close_if_unusable_or_obsolete()
    wrapper.close_if_unusable_or_obsolete()
    assert wrapper.connection is opened
    handler.close_all()


def test_every_new_connection_gets_the_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = _sqlite(path)
    assert _pragmas(first) == WANTED
    first.close_all()
    # A connection past its age is closed and the next one is set up again.
    again = _sqlite(path)
    again["default"].settings_dict["CONN_MAX_AGE"] = 0
    assert _pragmas(again) == WANTED
    again["default"].close_if_unusable_or_obsolete()
    assert again["default"].connection is None
    assert _pragmas(again) == WANTED
    again.close_all()
