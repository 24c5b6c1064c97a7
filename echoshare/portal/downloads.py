"""The share's files: each item (view or download), everything as one zip, the clinic logo.

Items and the zip are served only within a session that gave the share's password (B2);
another share's session gets 403 like no session at all. Downloads record a pseudonymous
event (B5 allows it); no counter moves.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from echoshare.lib.zipstream import zip_size, zip_stream
from echoshare.portal.gallery_items import MEDIA_KINDS
from echoshare.portal.models import Share, ShareEvent, ShareItem
from echoshare.portal.pages import ZIP_NAME, gone, zip_members
from echoshare.portal.patient_session import session_has_opened, session_has_share
from echoshare.portal.services import event_record, share_find, token_hash
from echoshare.portal.serving import NO_STORE, content_disposition, file_response

FORBIDDEN = "Open the link and enter the password first.\n"


def _forbidden() -> HttpResponse:
    response = HttpResponse(FORBIDDEN, status=403, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = NO_STORE
    return response


def _not_found() -> HttpResponse:
    response = HttpResponse(status=404)
    response["Cache-Control"] = NO_STORE
    return response


@dataclass(frozen=True)
class MediaItem:
    """What serving one item needs: the columns of one query, no model instances."""

    pk: int
    share_pk: int
    share_public_id: str
    file_name: str
    content_type: str
    file_key: str
    thumbnail_key: str
    poster_key: str
    # The raw data of the session asked for, if it exists and has not expired (the media
    # shortcut checks the session with the same query; Django's view reads request.session).
    session_data: str | None

    def file(self, kind: str) -> tuple[Path | None, str]:
        if kind == "thumb":
            return _media_path(self.thumbnail_key), "image/jpeg"
        if kind == "poster":
            return _media_path(self.poster_key), "image/jpeg"
        return _media_path(self.file_key), self.content_type


# Written out rather than built by the ORM: building this query took longer than running it
# (docs/performance.md, Portal). Same test as Share.is_open (D1): active and not expired;
# the session's row with the same test as echoshare.core.session_store.
_OPEN_ITEM_SQL = """
SELECT item.id, item.share_id, share.public_id, item.file_name, item.content_type,
       item.file_key, item.thumbnail_key, item.poster_key,
       (SELECT session_data FROM django_session
        WHERE session_key = %s AND expire_date > %s) AS session_data
FROM portal_shareitem AS item JOIN portal_share AS share ON share.id = item.share_id
WHERE item.public_id = %s AND share.token_hash = %s AND share.state = %s
  AND share.expires_at > %s
"""


def _media_path(key: str) -> Path | None:
    return Path(settings.PORTAL_MEDIA_DIR) / key if key else None


def _starts_at_zero(request: HttpRequest) -> bool:
    """A fresh download, not a player's or a resumed download's later range."""
    wanted = request.headers.get("Range", "").replace(" ", "")
    return not wanted or wanted.startswith("bytes=0-")


def open_item(token: str, item_id: str, session_key: str | None = None) -> MediaItem | None:
    """The item of the open share of this token, in one query of only the columns serving
    needs, with the data of `session_key`'s session: the hot path of every photo."""
    if not token or len(token) > 100:
        return None
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    parameters = [session_key, now, item_id, token_hash(token), Share.State.ACTIVE.value, now]
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_ITEM_SQL, parameters)
        row = cursor.fetchone()
    return MediaItem(*row) if row is not None else None


def _record_download(item: MediaItem) -> None:
    full = ShareItem.objects.select_related("share").get(pk=item.pk)
    event_record(share=full.share, kind=ShareEvent.Kind.DOWNLOADED, item=full)


@require_http_methods(["GET", "HEAD"])
def media(request: HttpRequest, token: str, item_id: str, kind: str) -> HttpResponseBase:
    """One item of a share. The session is read only to check the share was opened in it,
    never written: a photo's GET costs the item query and the session query, nothing more."""
    item = open_item(token, item_id) if kind in MEDIA_KINDS else None
    if item is None:  # a wrong token, a dead share, or an item that is not the share's
        share = share_find(token=token)
        if share is None:
            return gone(request)
        return _not_found() if session_has_share(request, share) else _forbidden()
    if not session_has_opened(request, item.share_public_id):
        return _forbidden()
    path, content_type = item.file(kind)
    if path is None:
        return _not_found()
    download = kind == "download"
    response = file_response(
        request, path, content_type=content_type, download_name=item.file_name if download else None
    )
    # Only a fresh download is an event: views, thumbnails, posters and later ranges are not.
    fresh = request.method == "GET" and _starts_at_zero(request)
    if download and fresh and response.status_code in (200, 206):
        _record_download(item)
    return response


@require_http_methods(["GET", "HEAD"])
def download_all(request: HttpRequest, token: str) -> HttpResponseBase:
    """Every item in one stored zip, written while it streams (memory stays flat)."""
    share = share_find(token=token)
    if share is None:
        return gone(request)
    if not session_has_share(request, share):
        return _forbidden()
    try:
        members = zip_members(share)
    except OSError:  # a file went missing (the share is being purged)
        return _not_found()
    response = StreamingHttpResponse(
        zip_stream(members) if request.method == "GET" else iter(()),
        content_type="application/zip",
    )
    response["Content-Length"] = str(zip_size(members))
    response["Content-Disposition"] = content_disposition("attachment", ZIP_NAME)
    response["Cache-Control"] = NO_STORE
    if request.method == "GET":
        event_record(share=share, kind=ShareEvent.Kind.ZIP_DOWNLOADED)
    return response


@require_http_methods(["GET", "HEAD"])
def logo(request: HttpRequest, token: str) -> HttpResponseBase:
    """The clinic's logo, shown on the link page before the password."""
    share = share_find(token=token)
    if share is None or not share.clinic.logo:
        return _not_found()
    path = Path(share.clinic.logo.path)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return file_response(request, path, content_type=content_type)
