"""What every SMS backend offers, and the HTTP helper that sorts provider failures into
"certainly not sent" (retry), "refused" (give up) and "maybe sent" (outcome unknown)."""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings
from urllib3.exceptions import ConnectTimeoutError

from echoshare.notify.errors import NotDeliveredError, OutcomeUnknownError, RejectedError


class SmsBackend:
    name = "base"
    # True when the provider drops a second request with the same reference, so that a
    # request whose answer was lost can safely be sent again.
    dedupes = False

    def send(self, *, to: str, sender: str, body: str, reference: str) -> str:
        """Send `body` to `to` (E.164); return the provider's message id."""
        raise NotImplementedError


def _connection_never_made(exc: requests.exceptions.ConnectionError) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3's NewConnectionError (refused, no route, DNS) is a ConnectTimeoutError too.
    return isinstance(reason, ConnectTimeoutError)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def post(url: str, *, provider: str, **kwargs: Any) -> requests.Response:
    """POST and return a 2xx response; raise a DeliveryError for anything else."""
    timeout = settings.SMS_TIMEOUT_SECONDS
    try:
        response = requests.post(url, timeout=(timeout, timeout), allow_redirects=False, **kwargs)
    except requests.exceptions.ConnectionError as exc:
        if _connection_never_made(exc):
            raise NotDeliveredError(f"{provider}: cannot connect ({type(exc).__name__})") from exc
        raise OutcomeUnknownError(f"{provider}: connection lost before the answer") from exc
    except requests.exceptions.Timeout as exc:  # read timeout: the request went out
        raise OutcomeUnknownError(f"{provider}: no answer within {timeout} s") from exc
    except requests.exceptions.RequestException as exc:
        raise NotDeliveredError(f"{provider}: request failed ({type(exc).__name__})") from exc
    if 200 <= response.status_code < 300:
        return response
    detail = f"{provider}: HTTP {response.status_code}: {error_text(response)}"
    if response.status_code == 429:
        raise NotDeliveredError(detail, retry_after=_retry_after(response))
    if response.status_code >= 500:
        raise NotDeliveredError(detail)
    raise RejectedError(detail)


def error_text(response: requests.Response) -> str:
    """The provider's own error description (Twilio, MessageBird or a plain body), short."""
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text[:300]
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # MessageBird
            first = errors[0]
            parameter = f" ({first['parameter']})" if first.get("parameter") else ""
            return f"code {first.get('code')}: {first.get('description')}{parameter}"
        if "code" in data or "message" in data:  # Twilio, generic
            return f"code {data.get('code')}: {data.get('message')}"
    return json.dumps(data)[:300]


def response_json(response: requests.Response, provider: str) -> dict[str, Any]:
    """The JSON body of an accepted request. A 2xx without it still means accepted."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
