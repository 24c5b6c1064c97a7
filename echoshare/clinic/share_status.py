"""How a share stands: the portal's events pulled on a schedule, and what ends a share.

The portal keeps pseudonymous events (opened, downloaded, deleted, expired ...); the clinic
reads its clinic-wide feed (`GET /api/v1/events?after=<cursor>`) and keeps the cursor, so each
event is applied once. When a share has ended, the clinic forgets its link and delete code.

The portal removes an ended share's files with a job; when storage refuses, it reports
`purge_failed` and retries until a `purged` event follows (D3). Until then the publication's
`last_status` stays `purge_failed`: the Exam page shows it and the System status page counts
it as an incident (monitoring.portal_purge_check).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic import portal_client
from echoshare.clinic.models import PortalEventCursor, Publication
from echoshare.clinic.passwords import password_drop
from echoshare.notify.models import Message
from echoshare.notify.services import message_cancel

logger = logging.getLogger(__name__)

State = Publication.State
_ENDING = {
    "deleted_by_patient": State.DELETED,
    "expired": State.EXPIRED,
    "revoked": State.REVOKED,
    "purged": State.EXPIRED,  # only if no earlier event ended it
    "purge_failed": State.EXPIRED,  # the portal removes only ended shares' files: ended too
}
PURGE_FAILED = "purge_failed"
PURGED = "purged"
_PROGRESS: dict[str, int] = {State.SENT: 0, State.OPENED: 1, State.DOWNLOADED: 2}


def expiry_reminder_key(publication: Publication, channel: str) -> str:
    # The expiry is part of the key: an extended share gets a new reminder under a new key.
    return f"publication:{publication.key}:expiry:{publication.expires_at:%Y%m%d%H%M}:{channel}"


def expiry_reminders_cancel(publication: Publication) -> None:
    for channel in Message.Channel.values:
        message_cancel(idempotency_key=expiry_reminder_key(publication, channel))


def publication_end(
    *, publication: Publication, state: str, at: datetime | None = None
) -> Publication:
    """Record that the share ended; drop the link and code, withdraw reminders, and forget
    the password once no share of the appointment is open. Call inside a transaction."""
    now = at or timezone.now()
    publication.state = state
    publication.ended_at = publication.ended_at or now
    if state == State.DELETED:
        publication.deleted_by_patient_at = publication.deleted_by_patient_at or now
    publication.secrets_sealed = ""
    publication.save()
    expiry_reminders_cancel(publication)
    appointment = publication.appointment
    if not appointment.publications.open().exists():
        password_drop(appointment=appointment)
    return publication


def _at(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(event.get("at")))
    except ValueError:
        return timezone.now()


def _progress(publication: Publication, state: str) -> None:
    if publication.state in _PROGRESS and _PROGRESS[state] > _PROGRESS[publication.state]:
        publication.state = state


def share_event_apply(*, event: dict[str, Any]) -> Publication | None:
    """Apply one portal event to its publication (None: not a share of ours)."""
    publication = (
        Publication.objects.select_for_update()
        .select_related("appointment__patient")
        .filter(portal_share_id=str(event.get("share", "")))
        .first()
    )
    if publication is None or not publication.portal_share_id:
        return None
    kind, at = str(event.get("kind", "")), _at(event)
    _last_status_set(publication, kind, at)
    if kind == "opened":
        publication.opened_at = publication.opened_at or at
        _progress(publication, State.OPENED)
    elif kind in ("downloaded", "zip_downloaded"):
        publication.downloaded_at = publication.downloaded_at or at
        _progress(publication, State.DOWNLOADED)
    elif kind in _ENDING and not publication.has_ended:
        publication_end(publication=publication, state=_ENDING[kind], at=at)
        _audit_end(publication, kind)
        return publication
    publication.save()
    return publication


def _last_status_set(publication: Publication, kind: str, at: datetime) -> None:
    # A failed removal stays shown until the portal reports the files gone: a late event of
    # the ended share (a download that was under way) must not hide it (D3).
    if publication.last_status == PURGE_FAILED and kind not in (PURGE_FAILED, PURGED):
        return
    if kind == PURGE_FAILED and publication.last_status != PURGE_FAILED:
        logger.warning("portal: removing the files of share %s failed", publication.key[:8])
    publication.last_status, publication.last_status_at = kind, at


def publications_purge_failed() -> QuerySet[Publication]:
    """Shares whose files the portal reported it could not remove, and not removed since."""
    return Publication.objects.filter(last_status=PURGE_FAILED)


def _audit_end(publication: Publication, kind: str) -> None:
    event = {
        "deleted_by_patient": events.SHARE_DELETED,
        "revoked": events.SHARE_REVOKED,
    }.get(kind, events.SHARE_EXPIRED)
    audit_record(
        event=event,
        patient_ref=publication.appointment.patient.patient_id,
        object_ref=f"share {publication.key}",
        detail=f"portal event {kind}",
        source="portal",
    )


def share_status_pull() -> int:
    """Read every new event of the portal's feed; returns how many were applied.

    The cursor is saved with each event in one transaction: a crash repeats nothing and
    skips nothing. Raises portal_client.PortalError when the portal cannot be read.
    """
    if not settings.PORTAL_API_KEY:  # not connected to a portal yet: nothing to pull
        return 0
    cursor, _ = PortalEventCursor.objects.get_or_create(name="events")
    applied = 0
    for event, after in portal_client.events_all(after=cursor.after):
        with transaction.atomic():
            if share_event_apply(event=event) is not None:
                applied += 1
            cursor.after = after
            cursor.pulled_at = timezone.now()
            cursor.save(update_fields=["after", "pulled_at"])
    PortalEventCursor.objects.filter(pk=cursor.pk).update(pulled_at=timezone.now())
    publications_expire(now=timezone.now())
    return applied


def publications_expire(*, now: datetime) -> int:
    """Shares past their expiry are over even before the portal's event arrives."""
    ended = 0
    for publication in Publication.objects.open().filter(
        expires_at__lte=now, portal_share_id__gt=""
    ):
        with transaction.atomic():
            locked = Publication.objects.select_for_update().get(pk=publication.pk)
            if locked.is_open:
                publication_end(publication=locked, state=State.EXPIRED, at=locked.expires_at)
                _audit_end(locked, "expired")
                ended += 1
    return ended
