"""The share's files: each item (view or download), everything as one zip, the clinic logo.

Items and the zip are served only within a session that gave the share's password (B2);
another share's session gets 403 like no session at all. Downloads record a pseudonymous
event (B5 allows it); no counter moves.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_http_methods

from echoshare.lib.zipstream import zip_size, zip_stream
from echoshare.portal.gallery_items import MEDIA_KINDS
from echoshare.portal.models import ShareEvent, ShareItem
from echoshare.portal.pages import ZIP_NAME, gone, zip_members
from echoshare.portal.patient_session import session_has_share
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


def _item_file(item: ShareItem, kind: str) -> tuple[Path | None, str]:
    if kind == "thumb":
        return item.thumbnail_path(), "image/jpeg"
    if kind == "poster":
        return item.poster_path(), "image/jpeg"
    return item.path(), item.content_type


def _starts_at_zero(request: HttpRequest) -> bool:
    """A fresh download, not a player's or a resumed download's later range."""
    wanted = request.headers.get("Range", "").replace(" ", "")
    return not wanted or wanted.startswith("bytes=0-")


def _open_item(token: str, item_id: str) -> ShareItem | None:
    """The item together with its share in one query (the hot path of every photo and
    thumbnail); None unless the share of this token holds it and is open (D1)."""
    if not token or len(token) > 100:
        return None
    item = (
        ShareItem.objects.select_related("share")
        .filter(public_id=item_id, share__token_hash=token_hash(token))
        .first()
    )
    return item if item is not None and item.share.is_open() else None


@require_http_methods(["GET", "HEAD"])
def media(request: HttpRequest, token: str, item_id: str, kind: str) -> HttpResponseBase:
    item = _open_item(token, item_id) if kind in MEDIA_KINDS else None
    if item is None:  # a wrong token, a dead share, or an item that is not the share's
        share = share_find(token=token)
        if share is None:
            return gone(request)
        return _not_found() if session_has_share(request, share) else _forbidden()
    share = item.share
    if not session_has_share(request, share):
        return _forbidden()
    path, content_type = _item_file(item, kind)
    if path is None:
        return _not_found()
    download = kind == "download"
    response = file_response(
        request, path, content_type=content_type, download_name=item.file_name if download else None
    )
    fresh = request.method == "GET" and _starts_at_zero(request)
    if download and fresh and response.status_code in (200, 206):
        event_record(share=share, kind=ShareEvent.Kind.DOWNLOADED, item=item)
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
