"""The clinic-facing API, /api/v1/ (reference: openapi.json, served by `openapi`).

A clinic reaches only its own shares: every lookup is filtered by the authenticated
clinic, and another clinic's share id answers 404 exactly like an unknown one.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from echoshare.portal import services
from echoshare.portal.api_schema import openapi_document
from echoshare.portal.api_support import (
    ApiRequest,
    api_view,
    error,
    iso,
    json_body,
    parse_time,
)
from echoshare.portal.api_upload import parse_create_request
from echoshare.portal.models import Share, ShareEvent, ShareItem
from echoshare.portal.services import ShareError

log = logging.getLogger(__name__)

# Events younger than this are not handed out yet: on PostgreSQL an event id can become
# visible after a higher one, and a cursor must never skip an event.
EVENT_SETTLE = timedelta(seconds=2)
EVENT_PAGE_MAX = 500
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{16,128}$")


def _item_json(item: ShareItem) -> dict[str, Any]:
    return {
        "id": item.public_id,
        "kind": item.kind,
        "position": item.position,
        "file_name": item.file_name,
        "content_type": item.content_type,
        "size": item.size,
        "sha256": item.sha256,
    }


def share_json(share: Share) -> dict[str, Any]:
    now = timezone.now()
    return {
        "id": share.public_id,
        "state": share.state,
        "open": share.is_open(now),
        "ended_reason": share.ended_reason or None,
        "language": share.language,
        "created_at": iso(share.created_at),
        "expires_at": iso(share.expires_at),
        "ended_at": iso(share.ended_at),
        "purged_at": iso(share.purged_at),
        "purge_error": share.purge_error or None,
        "locked": share.is_locked(now),
        "locked_until": iso(share.locked_until) if share.is_locked(now) else None,
        "hard_locked": share.hard_locked,
        "failed_password_count": share.failed_password_count,
        "total_failed_password_count": share.total_failed_password_count,
        "delete_code_failures": share.delete_code_failures,
        "delete_code_disabled": share.delete_disabled,
        "items": [_item_json(item) for item in share.items.all()],
    }


def _own_share(request: HttpRequest, share_id: str) -> Share:
    clinic = request.clinic  # type: ignore[attr-defined]
    share = Share.objects.filter(clinic=clinic, public_id=share_id).first()
    if share is None:
        raise ShareError("not_found", "no such share", 404)
    return share


@never_cache
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


@api_view("POST")
def shares_create(request: ApiRequest) -> HttpResponse:
    key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY.match(key):
        return error(
            "idempotency_key_required",
            "send an Idempotency-Key header of 16-128 characters [A-Za-z0-9._:-]",
            400,
        )
    parsed = parse_create_request(request)
    replay = services.share_replay(
        clinic=request.clinic, idempotency_key=key, request_hash=parsed.request_hash
    )
    try:
        created = replay or services.share_create(
            clinic=request.clinic,
            idempotency_key=key,
            request_hash=parsed.request_hash,
            password_hash=parsed.password_hash,
            delete_code_hash=parsed.delete_code_hash,
            items=parsed.items(),
            language=parsed.language,
            expires_at=parsed.expires_at,
        )
    except OSError as exc:  # disk full, storage gone: nothing was kept, the clinic retries
        log.error("storing a share's files failed: %s", exc.strerror or type(exc).__name__)
        return error("storage_unavailable", "the portal could not store the files", 503)
    body = share_json(created.share) | {"url": created.url}
    response = JsonResponse(body, status=201 if created.created else 200)
    if not created.created:
        response["Idempotent-Replayed"] = "true"
    return response


@api_view("GET")
def share_status(request: ApiRequest, share_id: str) -> HttpResponse:
    share = _own_share(request, share_id)
    if share.state == Share.State.PURGED and share.final_status_read_at is None:
        services.share_final_status_read(share_ids=[share.pk])
    return JsonResponse(share_json(share))


def _cursor(request: HttpRequest) -> tuple[int, int]:
    try:
        after = int(request.GET.get("after", "0"))
        limit = int(request.GET.get("limit", str(EVENT_PAGE_MAX)))
    except ValueError as exc:
        raise ShareError("invalid_cursor", "after and limit must be whole numbers") from exc
    if not 0 <= after < 2**63 or not 1 <= limit <= EVENT_PAGE_MAX:
        raise ShareError("invalid_cursor", f"after >= 0, 1 <= limit <= {EVENT_PAGE_MAX}")
    return after, limit


def _events_page(request: HttpRequest, events: QuerySet[ShareEvent]) -> JsonResponse:
    after, limit = _cursor(request)
    settled = timezone.now() - EVENT_SETTLE
    page = list(
        events.filter(id__gt=after, created_at__lte=settled)
        .select_related("share")
        .order_by("id")[:limit]
    )
    purged = [event.share_id for event in page if event.kind == ShareEvent.Kind.PURGED]
    if purged:
        services.share_final_status_read(share_ids=purged)
    body = {
        "events": [
            {
                "id": event.pk,
                "share": event.share.public_id,
                "kind": event.kind,
                "item": event.item_public_id or None,
                "at": iso(event.created_at),
            }
            for event in page
        ],
        "next": page[-1].pk if page else after,
        "more": len(page) == limit,
    }
    return JsonResponse(body)


@api_view("GET")
def share_events(request: ApiRequest, share_id: str) -> HttpResponse:
    share = _own_share(request, share_id)
    return _events_page(request, ShareEvent.objects.filter(share=share))


@api_view("GET")
def events_feed(request: ApiRequest) -> HttpResponse:
    return _events_page(request, ShareEvent.objects.filter(clinic=request.clinic))


@api_view("POST")
def share_extend(request: ApiRequest, share_id: str) -> HttpResponse:
    share = _own_share(request, share_id)
    body = json_body(request)
    if set(body) - {"expires_at", "months"} or len(body) != 1:
        raise ShareError("invalid_field", "send exactly one of expires_at or months")
    if "months" in body:
        months = body["months"]
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 24:
            raise ShareError("invalid_field", "months: a whole number from 1 to 24")
        expires_at = services.add_months(share.expires_at, months)
    else:
        expires_at = parse_time(body["expires_at"], "expires_at")
    return JsonResponse(share_json(services.share_extend(share=share, expires_at=expires_at)))


@api_view("POST")
def share_revoke(request: ApiRequest, share_id: str) -> HttpResponse:
    share = services.share_revoke(share=_own_share(request, share_id))
    return JsonResponse(share_json(share))


@api_view("POST")
def share_password(request: ApiRequest, share_id: str) -> HttpResponse:
    share = _own_share(request, share_id)
    body = json_body(request)
    if set(body) != {"password_hash"}:
        raise ShareError("invalid_field", "send only password_hash")
    share = services.share_replace_password(share=share, password_hash=body["password_hash"])
    return JsonResponse(share_json(share))


@api_view("POST")
def share_reset_lockouts(request: ApiRequest, share_id: str) -> HttpResponse:
    share = services.share_reset_lockouts(share=_own_share(request, share_id))
    return JsonResponse(share_json(share))


@never_cache
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return error("not_found", "no such endpoint; see /api/v1/openapi.json", 404)
