"""`staff_required`: the gate of every staff page (password + verified second factor + role).

    @staff_required("clinic.upload_dicom")   # a permission "app.codename"
    def upload(request): ...

    @staff_required("administrator")         # or a role (group); superusers pass both
    def settings_page(request): ...

Not logged in or not OTP-verified: redirect to the staff login (JSON requests get 401).
Logged in but lacking the role or permission: 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse

from echoshare.clinic.roles import ROLES
from echoshare.core.client_address import client_address

View = TypeVar("View", bound=Callable[..., HttpResponse])


def audit_source(request: HttpRequest) -> str:
    """An audit record's source for a staff request: "web:" and the client's address (behind
    a trusted proxy, the address it forwarded: ECHOSHARE_TRUSTED_PROXIES)."""
    return f"web:{client_address(request.META)}"


def is_verified_staff(user: Any) -> bool:
    """Logged in with password and second factor, account active and marked as staff."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and getattr(user, "is_verified", lambda: False)()
    )


def has_requirement(user: Any, requirement: str | None) -> bool:
    if requirement is None or user.is_superuser:
        return True
    if requirement in ROLES:
        return bool(user.groups.filter(name=requirement).exists())
    return bool(user.has_perm(requirement))


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def staff_required(requirement: str | None = None) -> Callable[[View], View]:
    """Decorator for staff views; `requirement` is a role name or a permission."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not is_verified_staff(request.user):
                if _wants_json(request):
                    return JsonResponse({"error": "login required"}, status=401)
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if not has_requirement(request.user, requirement):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class StaffRequiredMixin:
    """The same gate for class-based views: set `staff_requirement`."""

    staff_requirement: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        gate = staff_required(self.staff_requirement)(super().dispatch)  # type: ignore[misc]
        return gate(request, *args, **kwargs)
