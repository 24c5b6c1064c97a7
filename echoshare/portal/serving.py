"""Sending one file of a share: Range, ETag, Last-Modified, or offloaded to nginx.

The access check happens in the view; this module only sends bytes. In "stream" mode the
file goes out in 1 MiB blocks (Django's 4 KiB default is five times slower) and, under
gunicorn, through sendfile: the response hands the server an open file positioned at the
start of the range together with an exact Content-Length. In "x-accel" mode nginx sends the
file (with Range and its own validators) from the internal location PORTAL_X_ACCEL_PREFIX.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from echoshare.lib.ranges import (
    RangeNotSatisfiable,
    http_date,
    is_not_modified,
    parse_range,
    range_applies,
)

log = logging.getLogger(__name__)

BLOCK_SIZE = 1024 * 1024
NO_STORE = "no-store"


class _RangeFile:
    """A read-only view of `length` bytes of an open file, starting at its current position.

    It has `fileno` so that gunicorn can sendfile it (it sends Content-Length bytes from the
    file's position) and a bounded `read` for servers that copy blocks instead.
    """

    def __init__(self, file: BinaryIO, length: int) -> None:
        self._file = file
        self._remaining = length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        wanted = self._remaining if size < 0 else min(size, self._remaining)
        data = self._file.read(wanted)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


def etag_for(stat: os.stat_result) -> str:
    """nginx's ETag format (hex mtime - hex size): the same in "stream" and "x-accel" mode."""
    return f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'


def content_disposition(kind: str, file_name: str) -> str:
    return f"{kind}; filename=\"{file_name}\"; filename*=UTF-8''{quote(file_name)}"


def _headers(response: HttpResponseBase, *, content_type: str, download_name: str | None) -> None:
    response["Content-Type"] = content_type
    response["Cache-Control"] = NO_STORE
    if download_name:
        response["Content-Disposition"] = content_disposition("attachment", download_name)


def _offloaded(path: Path, *, content_type: str, download_name: str | None) -> HttpResponse:
    try:
        relative = path.resolve().relative_to(Path(settings.PORTAL_MEDIA_DIR).resolve())
    except ValueError:  # never for server-made keys; nginx must not get a path outside
        log.error("refusing to offload a file outside PORTAL_MEDIA_DIR")
        return HttpResponse(status=404)
    response = HttpResponse()
    response["X-Accel-Redirect"] = settings.PORTAL_X_ACCEL_PREFIX + quote(relative.as_posix())
    _headers(response, content_type=content_type, download_name=download_name)
    return response


def file_response(
    request: HttpRequest, path: Path, *, content_type: str, download_name: str | None = None
) -> HttpResponseBase:
    """The file at `path` as a response to a GET or HEAD (404 if it is not there)."""
    if settings.PORTAL_MEDIA_OFFLOAD == "x-accel":
        return _offloaded(path, content_type=content_type, download_name=download_name)
    try:
        file = path.open("rb")
    except (FileNotFoundError, IsADirectoryError):
        return HttpResponse(status=404)
    except OSError as exc:  # unreadable: a fault of the installation, reported, never a 500
        log.error("cannot open a share file: %s", exc.strerror)
        return HttpResponse(status=404)
    stat = os.fstat(file.fileno())
    etag = etag_for(stat)
    validators = {"ETag": etag, "Last-Modified": http_date(stat.st_mtime)}
    if is_not_modified(
        if_none_match=request.headers.get("If-None-Match"),
        if_modified_since=request.headers.get("If-Modified-Since"),
        etag=etag,
        mtime=stat.st_mtime,
    ):
        file.close()
        response: HttpResponseBase = HttpResponse(status=304, headers=validators)
        response["Cache-Control"] = NO_STORE
        return response
    size = stat.st_size
    try:
        wanted = request.headers.get("Range")
        if not range_applies(
            if_range=request.headers.get("If-Range"), etag=etag, mtime=stat.st_mtime
        ):
            wanted = None
        byte_range = parse_range(wanted, size)
    except RangeNotSatisfiable:
        file.close()
        response = HttpResponse(status=416, headers={"Content-Range": f"bytes */{size}"})
        response["Cache-Control"] = NO_STORE
        return response
    start, length = (byte_range.start, byte_range.length) if byte_range else (0, size)
    status = 206 if byte_range else 200
    if request.method == "HEAD":  # the headers a GET would carry, and no body to drop
        file.close()
        response = HttpResponse(status=status)
    else:
        file.seek(start)
        response = FileResponse(_RangeFile(file, length), status=status)
        response.block_size = BLOCK_SIZE
    _headers(response, content_type=content_type, download_name=download_name)
    for name, value in validators.items():
        response[name] = value
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(length)
    if byte_range:
        response["Content-Range"] = byte_range.content_range(size)
    return response
