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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
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


def _base_headers(*, content_type: str, download_name: str | None) -> dict[str, str]:
    headers = {"Content-Type": content_type, "Cache-Control": NO_STORE}
    if download_name:
        headers["Content-Disposition"] = content_disposition("attachment", download_name)
    return headers


@dataclass
class FileAnswer:
    """How to answer a request for one file, before any framework: the status, the headers
    and the bytes to send (None: no body). Django's view and the media shortcut in front of
    Django (`media_shortcut`) both send it, so Range and validators are decided once."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: _RangeFile | None = None

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


def _offloaded(path: Path, headers: dict[str, str]) -> FileAnswer:
    try:
        relative = path.resolve().relative_to(Path(settings.PORTAL_MEDIA_DIR).resolve())
    except ValueError:  # never for server-made keys; nginx must not get a path outside
        log.error("refusing to offload a file outside PORTAL_MEDIA_DIR")
        return FileAnswer(404)
    headers["X-Accel-Redirect"] = settings.PORTAL_X_ACCEL_PREFIX + quote(relative.as_posix())
    headers["Content-Length"] = "0"  # nginx sends the file and its own length
    return FileAnswer(200, headers)


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as exc:  # unreadable: a fault of the installation, reported, never a 500
        log.error("cannot open a share file: %s", exc.strerror)
        return None


def file_answer(
    path: Path, *, meta: Mapping[str, Any], content_type: str, download_name: str | None = None
) -> FileAnswer:
    """The answer to a GET or HEAD of the file at `path` (404 if it is not there). `meta` is
    the WSGI environ (Django's `request.META`): method, Range and conditional headers."""
    headers = _base_headers(content_type=content_type, download_name=download_name)
    if settings.PORTAL_MEDIA_OFFLOAD == "x-accel":
        return _offloaded(path, headers)
    file = _open(path)
    if file is None:
        return FileAnswer(404)
    stat = os.fstat(file.fileno())
    etag = etag_for(stat)
    validators = {"ETag": etag, "Last-Modified": http_date(stat.st_mtime)}
    if is_not_modified(
        if_none_match=meta.get("HTTP_IF_NONE_MATCH"),
        if_modified_since=meta.get("HTTP_IF_MODIFIED_SINCE"),
        etag=etag,
        mtime=stat.st_mtime,
    ):
        file.close()
        return FileAnswer(304, {**validators, "Cache-Control": NO_STORE})
    size = stat.st_size
    wanted = meta.get("HTTP_RANGE")
    if not range_applies(if_range=meta.get("HTTP_IF_RANGE"), etag=etag, mtime=stat.st_mtime):
        wanted = None
    try:
        byte_range = parse_range(wanted, size)
    except RangeNotSatisfiable:
        file.close()
        return FileAnswer(416, {"Content-Range": f"bytes */{size}", "Cache-Control": NO_STORE})
    start, length = (byte_range.start, byte_range.length) if byte_range else (0, size)
    headers.update(validators)
    headers["Accept-Ranges"] = "bytes"
    headers["Content-Length"] = str(length)
    if byte_range:
        headers["Content-Range"] = byte_range.content_range(size)
    status = 206 if byte_range else 200
    if meta.get("REQUEST_METHOD") == "HEAD":  # the headers a GET would carry, and no body
        file.close()
        return FileAnswer(status, headers)
    file.seek(start)
    return FileAnswer(status, headers, _RangeFile(file, length))


def file_response(
    request: HttpRequest, path: Path, *, content_type: str, download_name: str | None = None
) -> HttpResponseBase:
    """The file at `path` as Django's response to a GET or HEAD (404 if it is not there)."""
    answer = file_answer(
        path, meta=request.META, content_type=content_type, download_name=download_name
    )
    response: HttpResponseBase
    if answer.body is None:
        response = HttpResponse(status=answer.status)
    else:
        response = FileResponse(answer.body, status=answer.status)
        response.block_size = BLOCK_SIZE
    for name, value in answer.headers.items():
        response[name] = value
    return response
