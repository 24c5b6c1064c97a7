"""C1: password attempts per share, temporary locks with growing backoff, the hard lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from echoshare.portal import guessing
from echoshare.portal.models import Share, ShareEvent
from echoshare.portal.services import share_check_password, share_reset_lockouts
from tests.portal.factories import PASSWORD, make_share

pytestmark = pytest.mark.django_db


def _fail(share: Share, times: int) -> None:
    for _ in range(times):
        assert not share_check_password(share=share, password="wrong-pass").ok


def test_it_accepts_the_right_password() -> None:
    share, _ = make_share(items=("still",))
    result = share_check_password(share=share, password=PASSWORD)
    assert result.ok and not result.locked and result.retry_after is None


def test_ten_wrong_passwords_lock_the_share_for_a_minute() -> None:
    share, _ = make_share(items=("still",))
    _fail(share, 9)
    assert not Share.objects.get(pk=share.pk).is_locked()
    result = share_check_password(share=share, password="wrong-pass")
    assert result.locked and result.retry_after == 60
    # Even the right password is refused while locked, without counting.
    refused = share_check_password(share=share, password=PASSWORD)
    assert not refused.ok and refused.locked and 0 < (refused.retry_after or 0) <= 60
    assert Share.objects.get(pk=share.pk).failed_password_count == 10


def test_the_lock_grows_with_every_further_failure() -> None:
    share, _ = make_share(items=("still",))
    waits = []
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(13):
            result = share_check_password(share=share, password="wrong-pass")
            if result.locked:
                waits.append(result.retry_after)
                traveller.shift(timedelta(seconds=result.retry_after or 0))
    assert waits == [60, 120, 240, 480]


def test_the_lock_ends_and_a_success_resets_the_consecutive_counter() -> None:
    share, _ = make_share(items=("still",))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _fail(share, 10)
        traveller.shift(timedelta(seconds=61))
        assert share_check_password(share=share, password=PASSWORD).ok
    share.refresh_from_db()
    assert share.failed_password_count == 0
    assert share.locked_until is None
    assert share.total_failed_password_count == 10


def test_fifty_failures_lock_the_share_until_the_clinic_resets() -> None:
    share, _ = make_share(items=("still",), expires_at=timezone.now() + timedelta(days=300))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(guessing.PASSWORD_HARD_LIMIT):
            result = share_check_password(share=share, password="wrong-pass")
            traveller.shift(timedelta(seconds=(result.retry_after or 0) + 1))
        assert result.locked and result.retry_after is None
        share.refresh_from_db()
        assert share.hard_locked and share.total_failed_password_count == 50
        traveller.shift(timedelta(days=60))
        assert not share_check_password(share=share, password=PASSWORD).ok
        share_reset_lockouts(share=share)
        assert share_check_password(share=share, password=PASSWORD).ok


def test_a_success_between_failures_does_not_postpone_the_hard_lock() -> None:
    share, _ = make_share(items=("still",))
    for _ in range(5):
        _fail(share, 9)
        assert share_check_password(share=share, password=PASSWORD).ok
    share.refresh_from_db()
    assert share.total_failed_password_count == 45 and share.failed_password_count == 0
    _fail(share, 5)
    share.refresh_from_db()
    assert share.hard_locked


def test_failures_and_locks_are_recorded_as_events() -> None:
    share, _ = make_share(items=("still",))
    _fail(share, 10)
    kinds = list(ShareEvent.objects.filter(share=share).values_list("kind", flat=True))
    assert kinds.count("password_failed") == 10
    assert kinds.count("locked") == 1


def test_an_ended_or_expired_share_takes_no_attempts() -> None:
    share, _ = make_share(items=("still",), expires_at=timezone.now() - timedelta(seconds=1))
    result = share_check_password(share=share, password=PASSWORD)
    assert not result.ok and not result.locked
    share.refresh_from_db()
    assert share.failed_password_count == 0


def test_the_backoff_table() -> None:
    assert guessing.backoff(9) is None
    assert guessing.backoff(10) == timedelta(minutes=1)
    assert guessing.backoff(12) == timedelta(minutes=4)
    assert guessing.backoff(49) == timedelta(hours=24)
