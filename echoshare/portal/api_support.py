"""What every API view shares: bearer-key authentication, JSON errors, upload limits.

Errors are always JSON `{"error": "<name>", "detail": ...}` with a precise 4xx status;
the API never answers 500 for anything a client sends.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import (
    FileUploadHandler,
    SkipFile,
    TemporaryFileUploadHandler,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from echoshare.portal.models import Clinic
from echoshare.portal.ratelimit import client_address, ratelimit_hit
from echoshare.portal.services import ShareError, apikey_authenticate
from echoshare.portal.uploads import UploadError

ApiView = Callable[..., HttpResponse]


class ApiRequest(HttpRequest):
    clinic: Clinic


def error(code: str, detail: object, status: int, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _authenticate(request: HttpRequest) -> Clinic | JsonResponse:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    clinic = apikey_authenticate(key=key.strip()) if scheme.lower() == "bearer" else None
    if clinic is not None:
        return clinic
    # Failed logins from one address are slowed down, never locked out (C3).
    retry_after = ratelimit_hit(scope="api-auth", address=client_address(request))
    if retry_after is not None:
        return error(
            "too_many_requests", "too many failed logins", 429, Retry_After=str(retry_after)
        )
    return error(
        "unauthorized",
        "a valid API key is required",
        401,
        WWW_Authenticate='Bearer realm="echoshare"',
    )


def api_view(*methods: str) -> Callable[[ApiView], ApiView]:
    """Authenticate the clinic, allow only `methods`, turn refusals into JSON errors."""

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt  # bearer keys, no cookies: nothing a browser could forge
        @never_cache
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error("method_not_allowed", f"use {', '.join(methods)}", 405)
                response["Allow"] = ", ".join(methods)
                return response
            clinic = _authenticate(request)
            if isinstance(clinic, JsonResponse):
                return clinic
            request.clinic = clinic  # type: ignore[attr-defined]
            try:
                return view(request, *args, **kwargs)
            except (ShareError, UploadError) as exc:
                return error(exc.code, exc.detail, exc.status)

        wrapper.api_methods = methods  # type: ignore[attr-defined]
        return wrapper

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ShareError("invalid_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ShareError("invalid_json", "the body must be a JSON object")
    return body


def parse_time(value: object, field: str) -> datetime:
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ShareError("invalid_field", f"{field}: an ISO 8601 time with a UTC offset")
    return parsed


def iso(value: datetime | None) -> str | None:
    """UTC, ISO 8601 with Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class SizeLimitUploadHandler(FileUploadHandler):
    """Skips any uploaded file larger than PORTAL_MAX_ITEM_MB while it streams in and
    remembers it, so the view answers 413 without keeping the bytes."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.max_bytes = settings.PORTAL_MAX_ITEM_MB * 1024 * 1024
        self.received = 0
        self.too_large: list[str] = []

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large.append(self.field_name)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def use_streaming_upload_handlers(request: HttpRequest) -> SizeLimitUploadHandler:
    """Every file part goes to a temporary file on disk (a share can be 300 MB)."""
    limit = SizeLimitUploadHandler(request)
    request.upload_handlers = [limit, TemporaryFileUploadHandler(request)]
    return limit
