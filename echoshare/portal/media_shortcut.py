"""A shortcut in front of Django for the requests a gallery makes most: its photos.

A gallery page asks for every thumbnail at once and a patient swipes through the photos;
through Django's whole stack (URL resolving, a dozen middlewares, signals, response objects)
each such request cost about 280 µs of CPU, several times the cost of the query and the
file. This WSGI wrapper answers only the requests that succeed: a GET or HEAD of a photo,
thumbnail or poster (`/s/<token>/m/<item>/full|thumb|poster`) for an allowed host, in a
session that gave this share's password, of an open share, whose file is there, answered
200 or 206. The checks are the view's own (B2, D1): the same query (`downloads.open_item`,
which also fetches the session's row), the same session data, the same `file_answer`, and
the headers the middleware stack would add (`core.middleware.security_headers`).

Anything else goes to Django unchanged and gets the view's answer: no session or another
share's (403), a wrong token (the gone page), a missing file (404), 304 and 416, downloads
(which record an event), a plain-HTTP request where HTTPS is enforced, any error.
`tests/patient/test_media_shortcut.py` runs the media tests through both paths.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.http.response import HttpResponseBase

from echoshare.core.middleware import security_headers
from echoshare.portal.downloads import open_item
from echoshare.portal.patient_session import opened_in_session_data
from echoshare.portal.serving import BLOCK_SIZE, FileAnswer, file_answer

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_MEDIA_PATH = re.compile(r"/s/([^/]{1,100})/m/([^/]{1,100})/(full|thumb|poster)")


def _status_line(status: int) -> str:
    return f"{status} {HttpResponseBase(status=status).reason_phrase}"


_STATUS_LINES = {status: _status_line(status) for status in (200, 206)}


def shortcut_answer(environ: dict[str, Any]) -> FileAnswer | None:
    """The answer to an authorized photo request, or None: Django answers this one."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return None
    match = _MEDIA_PATH.fullmatch(environ.get("PATH_INFO", ""))
    if match is None:
        return None
    token, item_id, kind = match.groups()
    request = WSGIRequest(environ)  # Django's own host, scheme and cookie rules
    try:
        request.get_host()
    except DisallowedHost:
        return None
    secure = request.is_secure()
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key or (settings.SECURE_SSL_REDIRECT and not secure):
        return None
    # As Django does around a request: old or broken database connections are closed.
    request_started.send(sender=MediaShortcut, environ=environ)
    try:
        item = open_item(token, item_id, session_key)
    finally:
        request_finished.send(sender=MediaShortcut)
    if item is None or item.session_data is None:
        return None
    if item.share_public_id not in opened_in_session_data(item.session_data):
        return None
    path, content_type = item.file(kind)
    if path is None:
        return None
    answer = file_answer(path, meta=environ, content_type=content_type)
    if answer.status not in _STATUS_LINES:
        answer.close()
        return None
    for name, value in security_headers(secure=secure).items():
        answer.headers.setdefault(name, value)
    answer.headers["Vary"] = "Cookie"
    return answer


def _blocks(body: Any) -> Iterator[bytes]:
    try:
        while block := body.read(BLOCK_SIZE):
            yield block
    finally:
        body.close()


class MediaShortcut:
    """WSGI middleware: authorized photo requests answered here, the rest by `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        try:
            answer = shortcut_answer(environ)
        except Exception:  # Django answers it then, as it would have without the shortcut
            log.exception("media shortcut failed; Django answers the request")
            answer = None
        if answer is None:
            return self.app(environ, start_response)
        start_response(_STATUS_LINES[answer.status], list(answer.headers.items()))
        if answer.body is None:
            return []
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None:  # gunicorn: sendfile from the file's position
            return file_wrapper(answer.body, BLOCK_SIZE)  # type: ignore[no-any-return]
        return _blocks(answer.body)
