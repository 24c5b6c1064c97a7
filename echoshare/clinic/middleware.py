"""Staff pages (under /staff/): idle expiry of sessions (NEN 7510), a referrer policy that
lets their forms pass Django's CSRF origin check, and an audit record for every refusal.

The site-wide `Referrer-Policy: no-referrer` (patient links carry a token) makes browsers
send `Origin: null` with a form POST, which Django's CSRF check refuses. Staff URLs hold no
secret, so their pages use `same-origin`: still nothing is sent to another site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from echoshare.archive.models import Study
from echoshare.audit import events
from echoshare.audit.escaping import escape_control
from echoshare.audit.services import audit_record
from echoshare.clinic.access import audit_source
from echoshare.clinic.models import Appointment, Patient
from echoshare.notify.models import Message

logger = logging.getLogger(__name__)

LAST_SEEN_KEY = "staff_last_seen"
STAFF_PREFIX = "/staff/"
STAFF_REFERRER_POLICY = "same-origin"
API_PREFIX = "/staff/api/"  # token auth, no session


class StaffIdleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self._handle(request)
        if request.path.startswith(STAFF_PREFIX):
            response.headers.setdefault("Referrer-Policy", STAFF_REFERRER_POLICY)
        return response

    def _handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if (
            path.startswith(STAFF_PREFIX)
            and not path.startswith(API_PREFIX)
            and request.user.is_authenticated
        ):
            now = timezone.now().timestamp()
            last_seen = request.session.get(LAST_SEEN_KEY)
            idle_limit = settings.STAFF_IDLE_MINUTES * 60
            if isinstance(last_seen, int | float) and now - last_seen > idle_limit:
                return self._expire(request)
            request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)

    def _expire(self, request: HttpRequest) -> HttpResponse:
        with transaction.atomic():
            audit_record(
                event=events.SESSION_EXPIRED,
                user=request.user,  # type: ignore[arg-type]
                detail=f"idle for more than {settings.STAFF_IDLE_MINUTES} minutes",
                source="web",
            )
        logout(request)
        if "application/json" in request.headers.get("Accept", ""):
            return JsonResponse({"error": "session expired"}, status=401)
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)


# --- Refused access (NEN 7513) -------------------------------------------------------------
_DENIED_REASON = "_echoshare_denied_reason"  # set on the request by process_exception


# The columns that name a row's patient, first non-empty wins (an unmatched study: as received).
_PATIENT_COLUMNS: dict[type[Model], tuple[str, ...]] = {
    Patient: ("patient_id",),
    Appointment: ("patient__patient_id",),
    Study: ("appointment__patient__patient_id", "patient_id"),
    Message: ("patient_ref",),
}
# The row behind a staff URL, from the URL's own argument: one indexed query each ...
_ROW_BY_URL_ARGUMENT: dict[str, tuple[type[Model], str]] = {
    "accession_number": (Appointment, "accession_number"),
    "reference": (Message, "reference"),
    "study_key": (Study, "key"),
}
# ... and behind an admin page of one object ("<app>_<model>_<view>", argument object_id).
_ROW_BY_ADMIN_OBJECT: dict[str, type[Model]] = {
    "clinic_patient": Patient,
    "clinic_appointment": Appointment,
    "archive_study": Study,
    "notify_message": Message,
}


def _patient_of(model: type[Model], **lookup: Any) -> str:
    row = model._default_manager.filter(**lookup).values_list(*_PATIENT_COLUMNS[model]).first()
    return next((str(value) for value in row or () if value), "")


def _patient_ref(request: HttpRequest) -> str:
    """The patient ID when the refused URL names an exam, study, message or patient; else ""."""
    match = request.resolver_match
    if match is None:
        return ""
    for argument, (model, column) in _ROW_BY_URL_ARGUMENT.items():
        if argument in match.kwargs:
            return _patient_of(model, **{column: match.kwargs[argument]})
    object_id = str(match.kwargs.get("object_id", ""))
    if match.namespace == "admin" and object_id.isdigit() and match.url_name:
        model_of_page = _ROW_BY_ADMIN_OBJECT.get(match.url_name.rsplit("_", 1)[0])
        return _patient_of(model_of_page, pk=int(object_id)) if model_of_page else ""
    return ""


def _denied_detail(request: HttpRequest) -> str:
    match = request.resolver_match
    view = match.view_name if match is not None else "?"
    reason = getattr(request, _DENIED_REASON, "refused, not by a permission check (e.g. CSRF)")
    return f"{request.method} {view}: {reason}"


def access_denied_record(request: HttpRequest) -> None:
    """Audit a 403 answered to a logged-in user; never raises (the 403 must still go out)."""
    try:
        user = request.user
        if not user.is_authenticated:
            return  # the staff gate sends them to the login, where failures are audited
        with transaction.atomic():
            audit_record(
                event=events.ACCESS_DENIED,
                outcome=events.DENIED,
                user=user,
                patient_ref=_patient_ref(request),
                object_ref=request.path,  # never the query string; staff paths hold no secret
                detail=_denied_detail(request),
                source=audit_source(request),
            )
    # Whatever failed (database locked by a flood of 403s, a lookup), the refusal itself
    # must reach the client as a 403, never a 500; the log says the record is missing.
    except Exception:
        # Escaped here as well: a handler without the scrub filter must not get forged lines.
        path = escape_control(request.path)
        logger.exception("access.denied not audited: %s %s", request.method, path)


class AccessDeniedAuditMiddleware:
    """One `access.denied` record (outcome "denied") for every 403 a logged-in user gets
    under /staff/: staff pages, their JSON endpoints, the admin and the audit log.

    A middleware rather than the 403 handler (`handler403`): the handler is only called for
    a PermissionDenied raised by a view, while this sees every 403 on its way out, whoever
    answered it: the staff gate, the admin's own permission checks, a view returning
    HttpResponseForbidden, Django's CSRF check. So no view can forget it, and none records
    it itself. It is in MIDDLEWARE only on a tier that serves the clinic (settings.py: the
    portal has no audit app), and it ignores paths outside /staff/: with ECHOSHARE_ROLE=all
    the portal's paths hold link tokens and its visitors are not staff.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403 and request.path.startswith(STAFF_PREFIX):
            access_denied_record(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Notes why: Django turns the PermissionDenied into the 403 after this returns."""
        if isinstance(exception, PermissionDenied):
            setattr(request, _DENIED_REASON, "permission denied")
