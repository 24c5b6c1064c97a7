"""Publishing through the portal's real HTTP API: one share, the link message, the sealed
secrets, and the staff actions (resend, extend, revoke, reset, republish)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic import publishing
from echoshare.clinic.models import Publication
from echoshare.clinic.publishing import (
    ShareActionError,
    publication_run,
    share_extend,
    share_lock_reset,
    share_publish,
    share_republish,
    share_resend,
    share_revoke,
)
from echoshare.clinic.selection import selection_items, selection_set
from echoshare.lib.secrets import argon2_verify
from echoshare.notify.models import Message
from echoshare.notify.sealing import unseal
from echoshare.notify.services import messages_send_due
from echoshare.portal.models import Share
from tests.publishing.conftest import book, ingest, mail_texts, sms_files

pytestmark = pytest.mark.django_db(transaction=True)


def published(tmp_path: Path, user: Any = None, **patient: Any) -> Publication:
    appointment = book(**patient)
    ingest(appointment, tmp_path / "in")
    ingest(appointment, tmp_path / "in", frames=4)
    publication = share_publish(appointment=appointment, user=user)
    return publication_run(publication_id=publication.pk)


def test_it_publishes_one_share_with_the_selection_and_sends_one_sms(
    portal_clinic: Any, tmp_path: Path, settings: Any
) -> None:
    staff = get_user_model().objects.create_user(username="sonographer-pub")
    publication = published(tmp_path, user=staff)
    assert publication.state == Publication.State.SENT
    share = Share.objects.get(public_id=publication.portal_share_id)
    assert [item.kind for item in share.items.order_by("position")] == ["still", "clip"]
    secrets = unseal(publication.secrets_sealed)
    assert secrets["link"].startswith(f"{settings.PORTAL_URL}/s/")
    assert argon2_verify(share.delete_code_hash, secrets["delete_code"])
    assert share.password_hash == publication.appointment.password_hash
    messages_send_due()
    [sms] = sms_files(settings)
    text = sms.read_text()
    assert secrets["link"] in text and secrets["delete_code"] in text
    # Exactly one record (G1): the worker published on behalf of the staff member who asked.
    [record] = AuditRecord.objects.filter(event=events.SHARE_PUBLISHED)
    assert record.patient_ref == "PUBPID0042"
    assert record.responsible_user == staff and record.responsible_username == "sonographer-pub"
    assert record.user is None and record.source == "worker"
    assert record.outcome == events.SUCCESS
    assert record.object_ref == f"share {publication.key}"


def test_it_queues_the_expiry_reminder_a_week_before_the_last_day(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    reminder = Message.objects.get(kind=Message.Kind.EXPIRY_REMINDER)
    assert reminder.channel == Message.Channel.SMS
    assert reminder.next_attempt_at == publication.expires_at - timedelta(days=7)


def test_it_does_not_queue_an_expiry_reminder_when_turned_off(
    portal_clinic: Any, tmp_path: Path, settings: Any
) -> None:
    settings.EXPIRY_REMINDER_DAYS = 0
    published(tmp_path)
    assert not Message.objects.filter(kind=Message.Kind.EXPIRY_REMINDER).exists()


def test_it_sends_link_by_email_too_when_the_patient_consented(
    portal_clinic: Any, tmp_path: Path
) -> None:
    published(tmp_path, consent_email=True)
    channels = set(
        Message.objects.filter(kind=Message.Kind.SHARE_LINK).values_list("channel", flat=True)
    )
    assert channels == {"sms", "email"}


def test_resend_queues_new_link_messages(portal_clinic: Any, tmp_path: Path) -> None:
    publication = published(tmp_path)
    share_resend(publication=publication, user=None)
    assert Message.objects.filter(kind=Message.Kind.SHARE_LINK).count() == 2
    assert AuditRecord.objects.filter(event="share.resent").count() == 1


def test_extend_moves_the_expiry_on_the_portal_and_the_reminder(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    until = timezone.localdate() + timedelta(days=120)
    share_extend(publication=publication, until=until, user=None)
    share = Share.objects.get(public_id=publication.portal_share_id)
    assert share.expires_at == publication.expires_at
    assert publishing.last_day(publication.expires_at) == until
    states = dict(
        Message.objects.filter(kind=Message.Kind.EXPIRY_REMINDER).values_list(
            "next_attempt_at", "state"
        )
    )
    assert states[publication.expires_at - timedelta(days=7)] == Message.State.QUEUED
    assert Message.State.CANCELLED in states.values()


def test_extend_into_the_past_is_refused(portal_clinic: Any, tmp_path: Path) -> None:
    publication = published(tmp_path)
    with pytest.raises(ShareActionError):
        share_extend(
            publication=publication, until=timezone.localdate() - timedelta(days=1), user=None
        )


def test_extend_past_what_the_portal_allows_is_refused_and_changes_nothing(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    before = publication.expires_at
    with pytest.raises(ShareActionError, match="400"):
        share_extend(
            publication=publication, until=timezone.localdate() + timedelta(days=800), user=None
        )
    publication.refresh_from_db()
    assert publication.expires_at == before
    assert Share.objects.get(public_id=publication.portal_share_id).expires_at == before


def test_revoke_ends_the_share_and_drops_link_code_and_password(
    portal_clinic: Any, tmp_path: Path
) -> None:
    publication = published(tmp_path)
    share_revoke(publication=publication, user=None)
    publication.refresh_from_db()
    assert publication.state == Publication.State.REVOKED
    assert publication.secrets_sealed == ""
    assert publication.appointment.password_sealed == ""
    assert publication.appointment.password_hash  # kept: a republished share needs it
    assert Share.objects.get(public_id=publication.portal_share_id).state == "revoked"
    reminder = Message.objects.get(kind=Message.Kind.EXPIRY_REMINDER)
    assert reminder.state == Message.State.CANCELLED
    with pytest.raises(ShareActionError):
        share_resend(publication=publication, user=None)


def test_lock_reset_lifts_the_portal_lock(portal_clinic: Any, tmp_path: Path) -> None:
    publication = published(tmp_path)
    Share.objects.filter(public_id=publication.portal_share_id).update(
        hard_locked=True, delete_code_failures=5
    )
    share_lock_reset(publication=publication, user=None)
    share = Share.objects.get(public_id=publication.portal_share_id)
    assert not share.hard_locked and share.delete_code_failures == 0
    assert AuditRecord.objects.filter(event="share.lock_reset").count() == 1


def test_republish_revokes_the_old_share_and_publishes_the_new_selection(
    portal_clinic: Any, tmp_path: Path
) -> None:
    first = published(tmp_path)
    appointment = first.appointment
    [clip] = [
        i for i in selection_items(appointment=appointment) if i.instance.number_of_frames > 1
    ]
    selection_set(appointment=appointment, instance_keys=[clip.instance.key], user=None)
    second = share_republish(appointment=appointment, user=None)
    second = publication_run(publication_id=second.pk)
    first.refresh_from_db()
    assert first.state == Publication.State.REVOKED
    assert second.state == Publication.State.SENT and second.pk != first.pk
    new_share = Share.objects.get(public_id=second.portal_share_id)
    assert [item.kind for item in new_share.items.all()] == ["clip"]
    assert Share.objects.get(public_id=first.portal_share_id).state == "revoked"


def test_the_link_email_arrives_once_through_smtp(
    portal_clinic: Any, tmp_path: Path, smtp_server: Any
) -> None:
    publication = published(tmp_path, consent_sms=False, consent_email=True, language="en")
    booking_mails = len(mail_texts(smtp_server))
    messages_send_due()
    messages_send_due()
    secrets = unseal(publication.secrets_sealed)
    link_mails = [text for _, _, text in mail_texts(smtp_server) if secrets["link"] in text]
    assert len(link_mails) == 1 and secrets["delete_code"] in link_mails[0]
    password = (
        publication.appointment.password_sealed
        and unseal(publication.appointment.password_sealed)["password"]
    )
    assert password not in link_mails[0]  # link and password never travel together
    assert booking_mails == 0 and len(mail_texts(smtp_server)) == 2  # + the confirmation
