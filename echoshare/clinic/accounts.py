"""Staff accounts: creation with a role and a TOTP device, and the failed-login lockout."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.models import LoginThrottle
from echoshare.clinic.roles import ROLES

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TOTP_DEVICE_NAME = "authenticator app"
FAILURE_MEMORY = timedelta(days=1)


def staff_create(
    *,
    username: str,
    role: str,
    password: str,
    email: str = "",
    created_by: User | None = None,
    source: str = "cli",
) -> tuple[User, TOTPDevice]:
    """A staff account in one role, with a confirmed TOTP device to enrol in an app.

    The password is checked by AUTH_PASSWORD_VALIDATORS (ValidationError when too weak).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model(username=username, email=email, is_staff=True)
        validate_password(password, user)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save()
        user.groups.add(Group.objects.get(name=role))
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
        audit_record(
            event=events.STAFF_CREATED,
            user=created_by,
            object_ref=f"staff {username}",
            detail=f"role: {role}",
            source=source,
        )
    return user, device  # type: ignore[return-value]


def staff_totp_reset(
    *, user: User, reset_by: User | None = None, source: str = "cli"
) -> TOTPDevice:
    """Replace the user's TOTP devices with a new one (lost phone): the old codes stop working."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
        audit_record(
            event=events.OTP_DEVICE_CREATED,
            user=reset_by,
            object_ref=f"staff {user.get_username()}",
            source=source,
        )
    return device


def totp_match(user: User, code: str) -> TOTPDevice | None:
    """The user's confirmed TOTP device that accepts this code, or None."""
    code = "".join(code.split())
    if not code.isdigit():
        return None
    for device in TOTPDevice.objects.devices_for_user(user, confirmed=True):
        if device.verify_token(code):
            return device
    return None


def lockout_remaining(username: str) -> int:
    """Seconds until this account name may try again (0: not locked)."""
    throttle = LoginThrottle.objects.filter(username=username).first()
    now = timezone.now()
    if throttle is None or not throttle.is_locked(now):
        return 0
    assert throttle.locked_until is not None
    return max(1, int((throttle.locked_until - now).total_seconds() + 0.999))


def login_failure_register(username: str) -> LoginThrottle:
    """Count a failed login; from STAFF_LOCKOUT_AFTER on, lock for a doubling time.

    Failures older than a day with no lock running are forgotten, so a typo a month does not
    add up to a lockout; their rows are removed on the way (names nobody has are counted too).
    """
    now = timezone.now()
    forget_before = now - FAILURE_MEMORY
    with transaction.atomic():
        LoginThrottle.objects.filter(last_failure_at__lt=forget_before).exclude(
            locked_until__gt=now
        ).delete()
        throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(username=username)
        throttle.failures += 1
        throttle.last_failure_at = now
        over = throttle.failures - settings.STAFF_LOCKOUT_AFTER
        if over >= 0:
            seconds = min(
                settings.STAFF_LOCKOUT_SECONDS * 2 ** min(over, 30),
                settings.STAFF_LOCKOUT_MAX_SECONDS,
            )
            throttle.locked_until = now + timedelta(seconds=seconds)
        throttle.save()
    return throttle


def login_success_reset(username: str) -> None:
    LoginThrottle.objects.filter(username=username).delete()
