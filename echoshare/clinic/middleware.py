"""Staff pages (under /staff/): idle expiry of sessions (NEN 7510), and a referrer policy
that lets their forms pass Django's CSRF origin check.

The site-wide `Referrer-Policy: no-referrer` (patient links carry a token) makes browsers
send `Origin: null` with a form POST, which Django's CSRF check refuses. Staff URLs hold no
secret, so their pages use `same-origin`: still nothing is sent to another site.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.services import audit_record

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
