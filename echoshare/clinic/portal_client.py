"""The clinic's HTTP client of the portal API v1 (docs/portal-api.md).

The clinic tier reaches the portal only through this module, also when both tiers run in one
process, so that a split deployment runs the same code the tests exercise. Nothing here
touches the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings


class PortalError(Exception):
    """The portal answered, or could not be reached. `status` is None without an answer."""

    def __init__(self, message: str, *, status: int | None = None, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error

    @property
    def retryable(self) -> bool:
        """No answer, a 5xx or a 429: trying the same request again later can succeed."""
        return self.status is None or self.status >= 500 or self.status == 429


@dataclass(frozen=True)
class UploadItem:
    """One item of a new share: the files as paths on disk (main file, thumbnail, poster)."""

    kind: str  # "still" or "clip"
    file: Path
    thumbnail: Path
    poster: Path | None = None


@dataclass(frozen=True)
class CreatedShare:
    share_id: str
    url: str
    state: str
    expires_at: str
    replayed: bool


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    next: str
    more: bool


def _url(path: str) -> str:
    return f"{settings.PORTAL_API_URL}/api/v1/{path.lstrip('/')}"


def _headers(**extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {settings.PORTAL_API_KEY}",
        "Accept": "application/json",
    } | extra


def _answer(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        detail = body.get("detail", "") if isinstance(body, dict) else ""
        raise PortalError(
            f"portal answered {response.status_code} {error}: {detail}".strip(),
            status=response.status_code,
            error=error,
        )
    if not isinstance(body, dict):
        raise PortalError("portal answered without a JSON object", status=response.status_code)
    return body


def _request(method: str, path: str, **kwargs: Any) -> requests.Response:
    try:
        return requests.request(
            method,
            _url(path),
            timeout=settings.PORTAL_API_TIMEOUT_SECONDS,
            allow_redirects=False,
            **kwargs,
        )
    except requests.RequestException as exc:
        # The message names the kind of failure only: never the request with its secrets.
        raise PortalError(f"portal not reachable: {type(exc).__name__}") from exc


def share_create(
    *, manifest: dict[str, Any], items: list[UploadItem], idempotency_key: str
) -> CreatedShare:
    """POST /shares. `manifest` without "items": they are added here with their part names.

    The same key with the same manifest and files is a replay: the portal answers with the
    same share and URL (so a retry after a timeout never makes a second share).
    """
    entries: list[dict[str, str]] = []
    with ExitStack() as stack:
        files: list[tuple[str, tuple[str, Any, str]]] = []

        def part(name: str, path: Path, content_type: str) -> str:
            handle = stack.enter_context(path.open("rb"))
            files.append((name, (name, handle, content_type)))
            return name

        for number, item in enumerate(items, start=1):
            main_type = "video/mp4" if item.kind == "clip" else "image/jpeg"
            entry = {
                "kind": item.kind,
                "file": part(f"f{number}", item.file, main_type),
                "thumbnail": part(f"t{number}", item.thumbnail, "image/jpeg"),
            }
            if item.poster is not None:
                entry["poster"] = part(f"p{number}", item.poster, "image/jpeg")
            entries.append(entry)
        body = json.dumps(manifest | {"items": entries}, sort_keys=True)
        response = _request(
            "POST",
            "shares",
            headers=_headers(**{"Idempotency-Key": idempotency_key}),
            files=[("manifest", (None, body, "application/json")), *files],
        )
    answer = _answer(response)
    return CreatedShare(
        share_id=str(answer["id"]),
        url=str(answer["url"]),
        state=str(answer["state"]),
        expires_at=str(answer["expires_at"]),
        replayed=response.headers.get("Idempotent-Replayed") == "true",
    )


def share_status(*, share_id: str) -> dict[str, Any]:
    return _answer(_request("GET", f"shares/{share_id}", headers=_headers()))


def _post_json(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return _answer(
        _request(
            "POST",
            path,
            headers=_headers(**{"Content-Type": "application/json"}),
            data=json.dumps(body),
        )
    )


def share_extend(*, share_id: str, expires_at: str) -> dict[str, Any]:
    return _post_json(f"shares/{share_id}/extend", {"expires_at": expires_at})


def share_revoke(*, share_id: str) -> dict[str, Any]:
    return _post_json(f"shares/{share_id}/revoke", {})


def share_reset_lockouts(*, share_id: str) -> dict[str, Any]:
    return _post_json(f"shares/{share_id}/reset-lockouts", {})


def share_password_set(*, share_id: str, password_hash: str) -> dict[str, Any]:
    return _post_json(f"shares/{share_id}/password", {"password_hash": password_hash})


def events_page(*, after: str = "") -> EventPage:
    """One page of the clinic-wide event feed, oldest first."""
    params = {"after": after} if after else {}
    answer = _answer(_request("GET", "events", headers=_headers(), params=params))
    return EventPage(
        events=list(answer.get("events", [])),
        next=str(answer.get("next", after or "")),
        more=bool(answer.get("more")),
    )


def events_all(*, after: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every event after the cursor, each with the cursor to store once it was handled."""
    while True:
        page = events_page(after=after)
        for event in page.events:
            yield event, str(event["id"])
        after = page.next
        if not page.more:
            return
