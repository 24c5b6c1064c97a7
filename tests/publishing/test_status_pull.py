"""The clinic pulls the portal's events and shows the share's status; an ended share's link
and delete code are forgotten."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from echoshare.audit import events
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
    # Exactly one record (G1): the patient deleted it, so no staff member is named.
    [record] = AuditRecord.objects.filter(event=events.SHARE_DELETED)
    assert record.patient_ref == "PUBPID0042" and record.source == "portal"
    assert record.user is None and record.username == ""
    assert record.responsible_user is None and record.responsible_username == ""
    assert record.outcome == events.SUCCESS
    assert record.object_ref == f"share {publication.key}"


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


def _portal_purge(share: Share, monkeypatch: Any, *, storage_fails: bool) -> Any:
    """The portal's purge job for an ended share, its storage refusing or working."""
    from echoshare.portal import media
    from echoshare.portal.services import share_purge

    with monkeypatch.context() as patched:
        if storage_fails:

            def refused(path: Path) -> None:
                raise OSError(5, "Input/output error")

            patched.setattr(media, "remove_file", refused)
        return share_purge(share_id=share.pk)


def test_a_failed_removal_on_the_portal_shows_on_the_exam_and_is_one_incident_until_removed(
    portal_clinic: Any, tmp_path: Path, monkeypatch: Any, settings: Any
) -> None:
    from django.core import mail

    from echoshare.clinic import monitoring
    from echoshare.clinic.staff.models import Incident
    from echoshare.portal.services import PurgeOutcome
    from tests.clinic.staff import make_staff, verified_client

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MONITOR_ALERT_EMAILS = ["it@clinic.example.nl"]
    settings.LANGUAGE_CODE = "en"  # the alerts' language; the pages follow Accept-Language
    publication = published(tmp_path)
    share = Share.objects.get(public_id=publication.portal_share_id)
    secrets = unseal(publication.secrets_sealed)
    token = secrets["link"].rstrip("/").rsplit("/", 1)[-1]
    share_delete_by_patient(token=token, code=secrets["delete_code"])
    assert _portal_purge(share, monkeypatch, storage_fails=True) is PurgeOutcome.FAILED
    assert monitoring.portal_purge_check().ok is True  # not pulled yet: the clinic cannot know

    pull_later()
    publication.refresh_from_db()
    assert publication.state == Publication.State.DELETED
    assert publication.last_status == "purge_failed"
    check = monitoring.portal_purge_check()
    assert check.bad and "1 ended share whose" in check.detail
    assert "Vandermeulen" not in check.detail and publication.key not in check.detail
    for _ in range(3):  # the monitor runs every minute: one incident, one mail
        monitoring.monitor_run(checks=[monitoring.portal_purge_check()])
    assert Incident.objects.open().get().condition == monitoring.PORTAL_PURGE
    assert len(mail.outbox) == 1 and "removed from the portal" in mail.outbox[0].subject
    sonographer = verified_client(*make_staff("sono-purge", "sonographer"))
    page = sonographer.get(f"/staff/exams/{publication.appointment.accession_number}/")
    assert f'id="purge-failed-{publication.key}"' in page.content.decode()
    admin = verified_client(*make_staff("admin-purge", "administrator"))
    status_page = admin.get("/staff/status/").content.decode()
    assert f'data-condition="{monitoring.PORTAL_PURGE}" class="bad"' in status_page

    # The portal's retry succeeds: the `purged` event clears the exam's line and the incident.
    assert _portal_purge(share, monkeypatch, storage_fails=False) is PurgeOutcome.PURGED
    pull_later(10)
    publication.refresh_from_db()
    assert publication.last_status == "purged"
    assert monitoring.portal_purge_check().ok is True
    outcome = monitoring.monitor_run(checks=[monitoring.portal_purge_check()])
    assert outcome.closed == [monitoring.PORTAL_PURGE]
    assert len(mail.outbox) == 2 and "Resolved" in mail.outbox[1].subject
    page = sonographer.get(
        f"/staff/exams/{publication.appointment.accession_number}/", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "purge-failed-" not in page.content.decode()
    assert "Files removed from the portal" in page.content.decode()


def test_a_purge_failure_of_a_share_the_clinic_saw_open_ends_it_and_late_events_keep_it(
    portal_clinic: Any, tmp_path: Path
) -> None:
    # Events as the portal's feed gives them; `purge_failed` first ends a share the clinic
    # still thought open, and only `purged` replaces it.
    from django.db import transaction

    from echoshare.clinic.share_status import share_event_apply

    publication = published(tmp_path)
    at = timezone.now().isoformat()

    def portal_reports(kind: str) -> None:  # in its transaction, as the status pull does
        with transaction.atomic():
            share_event_apply(event={"share": publication.portal_share_id, "kind": kind, "at": at})

    portal_reports("purge_failed")
    publication.refresh_from_db()
    assert publication.state == Publication.State.EXPIRED and publication.secrets_sealed == ""
    assert AuditRecord.objects.filter(event="share.expired", source="portal").count() == 1
    portal_reports("downloaded")
    publication.refresh_from_db()
    assert publication.last_status == "purge_failed"
    portal_reports("purged")
    publication.refresh_from_db()
    assert publication.last_status == "purged" and publication.state == Publication.State.EXPIRED
