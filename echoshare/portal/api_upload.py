"""Reading a create-share request: a multipart body with a JSON `manifest` part and the
items' files, each file streamed to a temporary file on disk while it arrives.

    manifest = {"password_hash": "$argon2id$...", "delete_code_hash": "$argon2id$...",
                "language": "nl", "expires_at": "2027-01-31T12:00:00Z",
                "items": [{"kind": "still", "file": "p1", "thumbnail": "p1t"},
                          {"kind": "clip", "file": "c1", "thumbnail": "c1t", "poster": "c1p"}]}

`file`, `thumbnail` and `poster` name multipart parts. Uploaded file names and declared
content types are ignored: types come from the content (uploads.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from echoshare.portal.api_support import parse_time, use_streaming_upload_handlers
from echoshare.portal.services import ItemUpload, ShareError
from echoshare.portal.uploads import UploadError, check_jpeg, check_mp4, check_size

MANIFEST_FIELDS = {"password_hash", "delete_code_hash", "language", "expires_at", "items"}
ITEM_FIELDS = {
    "still": {"kind", "file", "thumbnail"},
    "clip": {"kind", "file", "thumbnail", "poster"},
}


@dataclass(frozen=True)
class ItemParts:
    kind: str
    file: UploadedFile
    thumbnail: UploadedFile
    poster: UploadedFile | None


@dataclass(frozen=True)
class CreateRequest:
    password_hash: str
    delete_code_hash: str
    language: str | None
    expires_at: datetime | None
    parts: list[ItemParts]
    request_hash: str  # manifest and files: tells a replay from a different request

    def items(self) -> list[ItemUpload]:
        """The items, each file checked by its content (F4)."""
        checked: list[ItemUpload] = []
        for number, part in enumerate(self.parts, start=1):
            main_check = check_mp4 if part.kind == "clip" else check_jpeg
            main_check(part.file, field=f"items[{number}].file")
            check_jpeg(part.thumbnail, field=f"items[{number}].thumbnail")
            if part.poster is not None:
                check_jpeg(part.poster, field=f"items[{number}].poster")
            checked.append(ItemUpload(part.kind, part.file, part.thumbnail, part.poster))
        return checked


def _multipart(request: HttpRequest) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    if not request.content_type or request.content_type != "multipart/form-data":
        raise ShareError("unsupported_media_type", "send multipart/form-data", 415)
    limit = use_streaming_upload_handlers(request)
    try:
        raw_manifest = request.POST.get("manifest")
        files = {
            name: file for name, file in request.FILES.items() if isinstance(file, UploadedFile)
        }
    except RequestDataTooBig as exc:
        raise ShareError("request_too_large", "the non-file fields are too large", 413) from exc
    except (MultiPartParserError, SuspiciousOperation) as exc:
        raise ShareError("invalid_multipart", f"the multipart body is invalid: {exc}") from exc
    if limit.too_large:
        max_mb = settings.PORTAL_MAX_ITEM_MB
        raise UploadError("file_too_large", f"{limit.too_large[0]}: over {max_mb} MB", 413)
    if raw_manifest is None:
        raise ShareError("manifest_missing", "a JSON part named 'manifest' is required")
    try:
        manifest = json.loads(raw_manifest)
    except (ValueError, RecursionError) as exc:
        raise ShareError("invalid_manifest", "the manifest is not valid JSON") from exc
    if not isinstance(manifest, dict):
        raise ShareError("invalid_manifest", "the manifest must be a JSON object")
    return manifest, files


def _part(files: dict[str, UploadedFile], name: object, field: str) -> UploadedFile:
    if not isinstance(name, str) or name not in files:
        raise ShareError("missing_part", f"{field}: names no uploaded part")
    check_size(files[name], max_bytes=settings.PORTAL_MAX_ITEM_MB * 1024 * 1024, field=field)
    return files[name]


def _item_parts(entry: object, number: int, files: dict[str, UploadedFile]) -> ItemParts:
    field = f"items[{number}]"
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or kind not in ITEM_FIELDS:
        raise ShareError("invalid_manifest", f"{field}: an object with kind 'still' or 'clip'")
    if set(entry) != ITEM_FIELDS[kind]:
        expected = ", ".join(sorted(ITEM_FIELDS[kind]))
        raise ShareError("invalid_manifest", f"{field}: a {kind} has exactly: {expected}")
    return ItemParts(
        kind=kind,
        file=_part(files, entry["file"], f"{field}.file"),
        thumbnail=_part(files, entry["thumbnail"], f"{field}.thumbnail"),
        poster=_part(files, entry["poster"], f"{field}.poster") if kind == "clip" else None,
    )


def _request_hash(manifest: dict[str, Any], parts: list[ItemParts]) -> str:
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
    for part in parts:
        for file in (part.file, part.thumbnail, part.poster):
            if file is not None:
                file.seek(0)
                for chunk in file.chunks():
                    digest.update(chunk)
                file.seek(0)
    return digest.hexdigest()


def parse_create_request(request: HttpRequest) -> CreateRequest:
    manifest, files = _multipart(request)
    unknown = set(manifest) - MANIFEST_FIELDS
    if unknown:
        raise ShareError("invalid_manifest", f"unknown fields: {', '.join(sorted(unknown))}")
    entries = manifest.get("items")
    if not isinstance(entries, list) or not entries:
        raise ShareError("invalid_manifest", "items: a non-empty list")
    parts = [_item_parts(entry, n, files) for n, entry in enumerate(entries, start=1)]
    used = {entry.get(key) for entry in entries for key in ("file", "thumbnail", "poster")}
    if set(files) - used:
        raise ShareError("unexpected_part", "every uploaded part must be named in the manifest")
    language = manifest.get("language")
    if language not in (None, "nl", "en"):
        raise ShareError("invalid_manifest", "language: 'nl' or 'en'")
    expires_at = manifest.get("expires_at")
    return CreateRequest(
        password_hash=_string(manifest, "password_hash"),
        delete_code_hash=_string(manifest, "delete_code_hash"),
        language=language,
        expires_at=parse_time(expires_at, "expires_at") if expires_at is not None else None,
        parts=parts,
        request_hash=_request_hash(manifest, parts),
    )


def _string(manifest: dict[str, Any], field: str) -> str:
    value = manifest.get(field)
    if not isinstance(value, str):
        raise ShareError("invalid_manifest", f"{field}: required string")
    return value
