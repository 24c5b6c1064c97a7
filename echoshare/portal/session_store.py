"""Django's database sessions, loaded with one written-out query (SESSION_ENGINE).

Every authorized photo and thumbnail reads the session (B2: was the share's password given
in it?). Building the ORM query for that took longer than the query itself, so loading is
done here with the same SQL Django runs: the row of this key, only if not expired. Saving,
key rotation, expiry and clearing are Django's own (`django.contrib.sessions.backends.db`).
This module imports no model of the portal, so the clinic role can load it too.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.utils import timezone

_LOAD_SQL = "SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s"


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(self.model._meta.db_table)
            cursor.execute(_LOAD_SQL.format(table=table), [self.session_key, now])
            row = cursor.fetchone()
        if row is None:  # unknown or expired: a new key is made on the next save
            self._session_key = None
            return None
        return self.model(session_key=self.session_key, session_data=row[0])
