"""Nothing is published while an item needs review, without consent, or for an exam on hold;
automatic publishing waits for the quiet time and for the clinic to turn it on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation

from echoshare.clinic.models import Publication
from echoshare.clinic.publishing import (
    PublishBlocked,
    appointment_hold_set,
    auto_publish_due,
    publication_run,
    publish_blockers,
    share_publish,
)
from echoshare.clinic.selection import selected_item_crop_set, selection_items
from tests.publishing.conftest import book, ingest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The reasons are shown in the active language; these tests read the English ones."""
    with translation.override("en"):
        yield


def test_the_reasons_are_dutch_for_a_dutch_page(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, regions=None)
    appointment_hold_set(appointment=appointment, on_hold=True, user=None)
    with translation.override("nl"):
        reasons = publish_blockers(appointment=appointment)
    assert reasons[0] == "Het onderzoek staat in de wacht."
    assert reasons[1].startswith("Beeld 1 moet worden beoordeeld: stel een uitsnede in.")


def test_a_ready_exam_has_no_blockers(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path)
    assert publish_blockers(appointment=appointment) == []


def test_an_exam_on_hold_is_not_published(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path)
    appointment_hold_set(appointment=appointment, on_hold=True, user=None, reason="bad news")
    with pytest.raises(PublishBlocked) as blocked:
        share_publish(appointment=appointment, user=None)
    assert blocked.value.reasons == ["The exam is on hold."]
    assert not Publication.objects.exists()
    appointment_hold_set(appointment=appointment, on_hold=False, user=None)
    assert publish_blockers(appointment=appointment) == []


def test_an_item_that_needs_review_blocks_until_staff_set_a_crop(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, regions=None)  # no regions, no device rule
    [reason] = publish_blockers(appointment=appointment)
    assert reason.startswith("Image 1 needs review")
    [item] = selection_items(appointment=appointment)
    assert item.needs_review
    selected_item_crop_set(item=item, crop=(20, 24, 99, 83), user=None)
    assert publish_blockers(appointment=appointment) == []


@pytest.mark.parametrize(
    ("patient", "reason"),
    [
        ({"consent_sms": False}, "The patient has not consented to receiving images."),
        ({"phone": ""}, "No phone number or e-mail address for the consented channel."),
    ],
)
def test_no_consent_or_no_contact_blocks(
    patient: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    appointment = book(**patient)
    ingest(appointment, tmp_path)
    assert publish_blockers(appointment=appointment) == [reason]


def test_nothing_selected_blocks(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, for_patient=False)  # archive AE only
    assert publish_blockers(appointment=appointment) == ["No images are selected."]


def test_a_hold_set_after_pressing_send_stops_the_job(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path)
    publication = share_publish(appointment=appointment, user=None)
    appointment_hold_set(appointment=appointment, on_hold=True, user=None)
    publication = publication_run(publication_id=publication.pk)
    assert publication.state == Publication.State.FAILED
    assert "on hold" in publication.error
    assert publication.portal_share_id == ""


def test_auto_publish_is_off_by_default(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, received_at=timezone.now() - timedelta(minutes=30))
    assert auto_publish_due() == []


def test_auto_publish_waits_for_the_quiet_time(tmp_path: Path, settings: Any) -> None:
    settings.AUTO_PUBLISH = True
    appointment = book()
    ingest(appointment, tmp_path, received_at=timezone.now() - timedelta(minutes=5))
    assert auto_publish_due() == []
    [publication] = auto_publish_due(now=timezone.now() + timedelta(minutes=6))
    assert publication.appointment == appointment
    assert auto_publish_due(now=timezone.now() + timedelta(minutes=7)) == []  # once


def test_auto_publish_skips_held_and_unreviewed_exams(tmp_path: Path, settings: Any) -> None:
    settings.AUTO_PUBLISH = True
    long_ago = timezone.now() - timedelta(minutes=30)
    held, unreviewed = book(), book(days_ahead=5)
    ingest(held, tmp_path / "a", received_at=long_ago)
    ingest(unreviewed, tmp_path / "b", regions=None, received_at=long_ago)
    appointment_hold_set(appointment=held, on_hold=True, user=None)
    assert auto_publish_due() == []
    assert not Publication.objects.exists()
