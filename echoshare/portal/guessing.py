"""Attempt counters for passwords and delete codes (SECURITY C1, C2, C4).

An attempt is *reserved* before argon2 runs: a compare-and-swap UPDATE moves the counters
from the values just read to the next ones and sets the lock the attempt would cause if it
fails. Parallel attempts therefore serialize on the row (PostgreSQL row lock, SQLite's write
lock) and can never exceed a cap; a correct password afterwards undoes its reservation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, F, Q, Value, When

from echoshare.lib.secrets import (
    DELETE_CODE_ALPHABET,
    DELETE_CODE_LENGTH,
    PASSWORD_ALPHABET,
    PASSWORD_LENGTH,
)
from echoshare.portal.models import Share

PASSWORD_SOFT_LIMIT = 10  # consecutive failures before the first temporary lock
PASSWORD_HARD_LIMIT = 50  # failures (since the clinic's last reset) before the hard lock
DELETE_CODE_MAX_FAILURES = 5
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=24)
_CAS_ROUNDS = 50  # a reservation retries while other attempts change the row under it


def backoff(failures: int) -> timedelta | None:
    """Lock time after `failures` consecutive failures: none below the soft limit, then
    doubling from one minute with every further failure, at most a day."""
    if failures < PASSWORD_SOFT_LIMIT:
        return None
    exponent = min(failures - PASSWORD_SOFT_LIMIT, 20)
    return min(BACKOFF_FIRST * 2**exponent, BACKOFF_MAX)


def retry_after_seconds(share: Share, now: datetime) -> int | None:
    """Seconds until a temporarily locked share takes attempts again; None if hard locked."""
    if share.hard_locked or share.locked_until is None:
        return None
    return max(1, math.ceil((share.locked_until - now).total_seconds()))


@dataclass(frozen=True)
class Reservation:
    granted: bool
    share: Share  # the row as it was when the reservation was decided
    locks: bool = False  # this attempt, if wrong, is the one that locks the share


def password_attempt_reserve(*, share_id: int, now: datetime) -> Reservation:
    """Count one attempt as failed in advance, if the share takes attempts at all."""
    for _ in range(_CAS_ROUNDS):
        current = Share.objects.get(pk=share_id)
        if not current.is_open(now) or current.is_locked(now):
            return Reservation(granted=False, share=current)
        failed = current.failed_password_count + 1
        total = current.total_failed_password_count + 1
        lock = backoff(failed)
        updated = Share.objects.filter(
            pk=share_id,
            state=Share.State.ACTIVE,
            hard_locked=False,
            failed_password_count=current.failed_password_count,
            total_failed_password_count=current.total_failed_password_count,
        ).update(
            failed_password_count=failed,
            total_failed_password_count=total,
            locked_until=(now + lock) if lock else current.locked_until,
            hard_locked=total >= PASSWORD_HARD_LIMIT,
        )
        if updated:
            locks = lock is not None or total >= PASSWORD_HARD_LIMIT
            return Reservation(granted=True, share=current, locks=locks)
    # The row kept changing under us: behave as locked rather than skip the cap.
    return Reservation(granted=False, share=Share.objects.get(pk=share_id))


def password_attempt_succeeded(*, share_id: int) -> None:
    """Undo the reservation of a correct attempt: it was no failure, and a success resets
    the consecutive-failure counter and the temporary lock."""
    Share.objects.filter(pk=share_id).update(
        failed_password_count=0,
        locked_until=None,
        total_failed_password_count=Case(
            When(total_failed_password_count__gt=0, then=F("total_failed_password_count") - 1),
            default=Value(0),
        ),
        hard_locked=Case(
            When(total_failed_password_count__gt=PASSWORD_HARD_LIMIT, then=Value(True)),
            default=Value(False),
        ),
    )


def delete_attempt_reserve(*, share_id: int) -> bool:
    """Count one delete-code attempt as failed in advance; False once the code is disabled."""
    for _ in range(_CAS_ROUNDS):
        failures = Share.objects.values_list("delete_code_failures", flat=True).get(pk=share_id)
        if failures >= DELETE_CODE_MAX_FAILURES:
            return False
        updated = Share.objects.filter(Q(pk=share_id) & Q(delete_code_failures=failures)).update(
            delete_code_failures=failures + 1
        )
        if updated:
            return True
    return False


def guess_probability_password(attempts: int = PASSWORD_HARD_LIMIT) -> float:
    """Chance that `attempts` guesses find a password (C4): each guess excludes one."""
    return attempts / len(PASSWORD_ALPHABET) ** PASSWORD_LENGTH


def guess_probability_delete_code(attempts: int = DELETE_CODE_MAX_FAILURES) -> float:
    return attempts / len(DELETE_CODE_ALPHABET) ** DELETE_CODE_LENGTH
