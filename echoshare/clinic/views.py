"""Staff login (password + TOTP in one step), logout and the staff start page."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.access import audit_source, staff_required
from echoshare.clinic.accounts import (
    lockout_remaining,
    login_failure_register,
    login_success_reset,
    totp_match,
)
from echoshare.clinic.forms import StaffLoginForm


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


def _render_login(
    request: HttpRequest, form: StaffLoginForm, status: int = 200, retry_after: int = 0
) -> HttpResponse:
    context = {"form": form, "next": _next_url(request)}
    response = render(request, "clinic/login.html", context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _refuse(request: HttpRequest, form: StaffLoginForm, username: str, reason: str) -> HttpResponse:
    account = get_user_model().objects.filter(username=username).first()
    with transaction.atomic():
        login_failure_register(username)
        audit_record(
            event=events.LOGIN_FAILED,
            outcome=events.FAILURE,
            user=account,  # type: ignore[arg-type]
            detail=reason if account else "unknown account",
            source=audit_source(request),
        )
    # One message for every reason: the page does not tell which part was wrong.
    form.add_error(None, _("User name, password or code is not correct."))
    return _render_login(request, form, status=401)


def _locked(request: HttpRequest, form: StaffLoginForm, username: str, wait: int) -> HttpResponse:
    account = get_user_model().objects.filter(username=username).first()
    with transaction.atomic():
        audit_record(
            event=events.LOGIN_LOCKED,
            outcome=events.DENIED,
            user=account,  # type: ignore[arg-type]
            detail=f"locked for {wait} more seconds",
            source=audit_source(request),
        )
    minutes = max(1, (wait + 59) // 60)
    form.add_error(
        None,
        _("Too many failed attempts. Try again in %(minutes)d minutes.") % {"minutes": minutes},
    )
    return _render_login(request, form, status=429, retry_after=wait)


@sensitive_post_parameters("password", "otp_code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def staff_login(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_login(request, StaffLoginForm())
    form = StaffLoginForm(request.POST)
    if not form.is_valid():
        return _render_login(request, form, status=400)
    username = form.cleaned_data["username"]
    wait = lockout_remaining(username)
    if wait:
        return _locked(request, form, username, wait)
    user = authenticate(request, username=username, password=form.cleaned_data["password"])
    if user is None or not user.is_staff:
        return _refuse(request, form, username, "wrong password or not staff")
    device = totp_match(user, form.cleaned_data["otp_code"])  # type: ignore[arg-type]
    if device is None:
        return _refuse(request, form, username, "wrong second-factor code")
    with transaction.atomic():
        login(request, user)
        otp_login(request, device)
        login_success_reset(username)
        audit_record(event=events.LOGIN, user=user, source=audit_source(request))  # type: ignore[arg-type]
    return HttpResponseRedirect(_next_url(request))


@require_POST
@csrf_protect
def staff_logout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        with transaction.atomic():
            audit_record(event=events.LOGOUT, user=request.user, source=audit_source(request))  # type: ignore[arg-type]
    logout(request)
    return HttpResponseRedirect(settings.LOGIN_URL)


@require_GET
@staff_required()
def staff_home(request: HttpRequest) -> HttpResponse:
    return render(request, "clinic/home.html", {"idle_minutes": settings.STAFF_IDLE_MINUTES})
