"""The patient's pages: the link page (password), the gallery, a photo, delete, and "gone".

Every page answers `Cache-Control: no-store`, in the language of `page_language`. A wrong,
expired, revoked or deleted link gets the same "gone" page with the same status (B7). GET
never changes a share (B5): counters move only on the password and delete POSTs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from echoshare.lib.secrets import DELETE_CODE_LENGTH
from echoshare.lib.zipstream import ZipMember, zip_size
from echoshare.portal.gallery_items import share_entries, share_files_json
from echoshare.portal.models import Share, ShareEvent, ShareItem
from echoshare.portal.patient_session import (
    page_language,
    session_forget_share,
    session_has_share,
    session_open_share,
)
from echoshare.portal.ratelimit import client_address, ratelimit_hit
from echoshare.portal.services import (
    DeleteResult,
    event_record,
    share_check_password,
    share_delete_by_patient,
    share_find,
)

# Pages with a form: with `no-referrer`, browsers send `Origin: null` on the form's POST and
# Django's CSRF check refuses it. `strict-origin` sends the origin (scheme and host) only,
# so the token in the path still appears in no Referer, not even towards the portal itself.
FORM_REFERRER_POLICY = "strict-origin"
FORM_TEMPLATES = {"portal/link.html", "portal/delete.html"}
ZIP_NAME = "echo.zip"
MAX_SECRET_LENGTH = 64


def page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    share: Share | None,
    status: int = 200,
) -> HttpResponse:
    """Render a patient page in the visitor's language, never cached (B6)."""
    language = page_language(request, share)
    base = {
        "clinic": share.clinic if share else None,
        "has_logo": bool(share and share.clinic.logo),
        "portal_languages": settings.LANGUAGES,
    }
    with translation.override(language):
        response = render(request, template, {**base, **context}, status=status)
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    if template in FORM_TEMPLATES:
        response["Referrer-Policy"] = FORM_REFERRER_POLICY
    return response


def gone(request: HttpRequest) -> HttpResponse:
    """The one answer for a wrong, expired, revoked or deleted link (B7)."""
    return page(request, "portal/gone.html", {}, share=None, status=404)


@require_http_methods(["GET", "HEAD", "POST"])
def link(request: HttpRequest, token: str) -> HttpResponse:
    share = share_find(token=token)
    if share is None:
        return gone(request)
    if request.method == "POST":
        return _check_password(request, token, share)
    if session_has_share(request, share):
        return redirect("patient:gallery", token)
    return page(request, "portal/link.html", {"token": token}, share=share)


def _burst_refused(
    request: HttpRequest, template: str, context: dict[str, Any], *, share: Share, scope: str
) -> HttpResponse | None:
    """429 with Retry-After for a burst from one address (C3); None to go on. Never a lock:
    the address may be a whole mobile carrier's."""
    retry_after = ratelimit_hit(scope=scope, address=client_address(request))
    if retry_after is None:
        return None
    with translation.override(page_language(request, share)):
        error = _("Too many attempts. Please wait %(seconds)s seconds and try again.") % {
            "seconds": retry_after
        }
    response = page(request, template, {**context, "error": error}, share=share, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _check_password(request: HttpRequest, token: str, share: Share) -> HttpResponse:
    refused = _burst_refused(
        request, "portal/link.html", {"token": token}, share=share, scope="patient-password"
    )
    if refused is not None:
        return refused
    password = request.POST.get("password", "").strip()[:MAX_SECRET_LENGTH]
    result = share_check_password(share=share, password=password)
    if result.ok:
        session_open_share(request, share)
        event_record(share=share, kind=ShareEvent.Kind.OPENED)
        return redirect("patient:gallery", token)
    with translation.override(page_language(request, share)):
        if result.locked and result.retry_after:
            minutes = max(1, (result.retry_after + 59) // 60)
            error = _("Too many wrong passwords. Try again in %(minutes)s minutes.") % {
                "minutes": minutes
            }
        elif result.locked:
            error = _("Too many wrong passwords. Please call %(clinic)s.") % {
                "clinic": share.clinic.name
            }
        else:
            error = _("That password is not right. Check it and try again.")
    status = 429 if result.locked and result.retry_after else 403
    response = page(
        request, "portal/link.html", {"token": token, "error": error}, share=share, status=status
    )
    if status == 429:
        response["Retry-After"] = str(result.retry_after)
    return response


def zip_members(share: Share) -> list[ZipMember]:
    """The share's files for "download all", with the sizes on disk."""
    members = []
    for item in share.items.order_by("position"):
        path = item.path()
        modified = timezone.localtime(item.created_at).replace(tzinfo=None)
        members.append(
            ZipMember(name=item.file_name, path=path, size=path.stat().st_size, modified=modified)
        )
    return members


@require_http_methods(["GET", "HEAD"])
def gallery(request: HttpRequest, token: str) -> HttpResponse:
    share = share_find(token=token)
    if share is None:
        return gone(request)
    if not session_has_share(request, share):
        return redirect("patient:link", token)
    with translation.override(page_language(request, share)):
        entries = share_entries(token, share)
        last_moment = timezone.localtime(share.expires_at - timedelta(seconds=1))
        expires_on = date_format(last_moment, "j F Y")
    try:
        size = zip_size(zip_members(share))
    except OSError:
        size = sum(entry.item.size for entry in entries)
    context = {
        "token": token,
        "stills": [e for e in entries if e.item.kind == ShareItem.Kind.STILL],
        "clips": [e for e in entries if e.item.kind == ShareItem.Kind.CLIP],
        "expires_on": expires_on,
        "zip_size": size,
        "zip_name": ZIP_NAME,
        "share_files_json": share_files_json(entries),
    }
    return page(request, "portal/gallery.html", context, share=share)


@require_http_methods(["GET", "HEAD"])
def photo(request: HttpRequest, token: str, item_id: str) -> HttpResponse:
    share = share_find(token=token)
    if share is None:
        return gone(request)
    if not session_has_share(request, share):
        return redirect("patient:link", token)
    with translation.override(page_language(request, share)):
        stills = [e for e in share_entries(token, share) if e.item.kind == ShareItem.Kind.STILL]
    index = next((i for i, e in enumerate(stills) if e.item.public_id == item_id), None)
    if index is None:
        return gone(request)
    context = {
        "token": token,
        "entry": stills[index],
        "previous": stills[index - 1] if index > 0 else None,
        "next": stills[index + 1] if index + 1 < len(stills) else None,
    }
    return page(request, "portal/photo.html", context, share=share)


@require_http_methods(["GET", "HEAD", "POST"])
def delete(request: HttpRequest, token: str) -> HttpResponse:
    """Reachable from the menu with or without the password: the code is the proof."""
    share = share_find(token=token)
    if share is None:
        return gone(request)
    context: dict[str, Any] = {"token": token, "disabled": share.delete_disabled}
    if request.method != "POST" or share.delete_disabled:
        status = 403 if request.method == "POST" else 200
        return page(request, "portal/delete.html", context, share=share, status=status)
    code = "".join(request.POST.get("code", "").split())[:MAX_SECRET_LENGTH]
    with translation.override(page_language(request, share)):
        if len(code) != DELETE_CODE_LENGTH:
            context["error"] = _("The delete code has 4 characters.")
        elif request.POST.get("confirm") != "yes":
            context["error"] = _("Tick the box to confirm that everything may be deleted.")
    if "error" in context:
        return page(request, "portal/delete.html", context, share=share, status=400)
    return _delete_with_code(request, token, share, code, context)


def _delete_with_code(
    request: HttpRequest, token: str, share: Share, code: str, context: dict[str, Any]
) -> HttpResponse:
    refused = _burst_refused(
        request, "portal/delete.html", context, share=share, scope="patient-delete-code"
    )
    if refused is not None:
        return refused
    result = share_delete_by_patient(token=token, code=code)
    if result is DeleteResult.NOT_FOUND:
        return gone(request)
    if result is DeleteResult.DELETED:
        session_forget_share(request, share)
        return page(request, "portal/deleted.html", {}, share=share)
    if result is DeleteResult.DISABLED:
        context["disabled"] = True
    else:
        with translation.override(page_language(request, share)):
            context["error"] = _("That code is not right. Check it and try again.")
    return page(request, "portal/delete.html", context, share=share, status=403)
