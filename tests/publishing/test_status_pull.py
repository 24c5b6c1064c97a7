"""The clinic pulls the portal's events and shows the share's status; an ended share's link
and delete code are forgotten."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import PortalEventCursor, Publication
from echoshare.clinic.publishing import publication_run, share_publish
from echoshare.clinic.share_status import share_status_pull
from echoshare.notify.models import Message
from echoshare.notify.sealing import unseal
from echoshare.portal.models import Share
from echoshare.portal.services import event_record, share_delete_by_patient
from tests.publishing.conftest import book, ingest

pytestmark = pytest.mark.django_db(transaction=True)


def published(tmp_path: Path) -> Publication:
    appointment = book()
    ingest(appointment, tmp_path / "in")
    publication = share_publish(appointment=appointment, user=None)
    return publication_run(publication_id=publication.pk)


def pull_later(seconds: int = 5) -> int:
    """Pull as if a few seconds passed (the portal holds back events younger than 2 s)."""
    with time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=True):
        return share_status_pull()


def test_it_shows_opened_then_downloaded(portal_clinic: Any, tmp_path: Path) -> None:
    publication = published(tmp_path)
    share = Share.objects.get(public_id=publication.portal_share_id)
    event_record(share=share, kind="opened")
    assert pull_later() == 1
    publication.refresh_from_db()
    assert publication.state == Publication.State.OPENED and publication.opened_at
    event_record(share=share, kind="zip_downloaded")
    event_record(share=share, kind="opened")  # opening again does not go back
    pull_later(10)
    publication.refresh_from_db()
    assert publication.state == Publication.State.DOWNLOADED and publication.downloaded_at


def test_deleted_by_patient_ends_the_share_and_drops_the_secrets(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    secrets = unseal(publication.secrets_sealed)
    token = secrets["link"].rstrip("/").rsplit("/", 1)[-1]
    assert (
        share_delete_by_patient(token=token, code=secrets["delete_code"].lower()).name == "DELETED"
    )
    pull_later()
    publication.refresh_from_db()
    assert publication.state == Publication.State.DELETED
    assert publication.deleted_by_patient_at is not None
    assert publication.secrets_sealed == ""
    assert publication.appointment.password_sealed == ""
    assert Message.objects.get(kind=Message.Kind.EXPIRY_REMINDER).state == "cancelled"
    assert AuditRecord.objects.filter(event="share.deleted", source="portal").count() == 1


def test_each_event_is_applied_once(portal_clinic: Any, tmp_path: Path) -> None:
    publication = published(tmp_path)
    share = Share.objects.get(public_id=publication.portal_share_id)
    event_record(share=share, kind="opened")
    assert pull_later() == 1
    assert pull_later(6) == 0
    assert PortalEventCursor.objects.get().after != ""


def test_a_share_past_its_expiry_shows_expired_without_waiting_for_the_portal(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    with time_machine.travel(publication.expires_at + timedelta(minutes=1), tick=True):
        share_status_pull()
    publication.refresh_from_db()
    assert publication.state == Publication.State.EXPIRED
    assert publication.secrets_sealed == ""
