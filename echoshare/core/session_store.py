"""Django's database sessions, loaded with one written-out query (SESSION_ENGINE).

Every authorized photo and thumbnail reads the session (B2: was the share's password given
in it?). Building the ORM query for that took longer than the query itself, so loading is
done here with the same SQL Django runs: the row of this key, only if not expired. Saving,
key rotation, expiry and clearing are Django's own (`django.contrib.sessions.backends.db`).
It lives in core because both tiers use it.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import connections, router
from django.utils import timezone

_LOAD_SQL = "SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s"


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> AbstractBaseSession | None:
        key = self.session_key
        row = self._load_row(key) if key is not None else None
        if key is None or row is None:  # unknown or expired: a new key on the next save
            self._session_key = None
            return None
        return self.model(session_key=key, session_data=row[0])

    def _load_row(self, key: str) -> tuple[str] | None:
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        table = connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(_LOAD_SQL.format(table=table), [key, now])
            row = cursor.fetchone()
        return tuple(row) if row is not None else None
