"""Publishing an exam's images to the portal, and the staff actions on a share.

    share_publish (staff or the auto-publish job)  -> Publication "queued" + job (after commit)
    publish job: render each item -> delete code -> POST /api/v1/shares with the Idempotency-Key
                 stored before the first attempt -> link + code sealed -> share_link messages

A retried job sends exactly the request of the first attempt (same manifest with the same
hashes and expiry, same rendered files from the render cache), so the portal replays the share
instead of making a second one, and the message keys stop a second link message (H2). See
docs/publishing.md.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from echoshare.archive.models import DestructionRequest
from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic import portal_client
from echoshare.clinic.exported_media import exported_media_render
from echoshare.clinic.models import Appointment, Publication, SelectedItem
from echoshare.clinic.passwords import (
    PasswordUnavailable,
    booking_context,
    booking_messages_queue,
    password_issue,
    password_reveal,
)
from echoshare.clinic.selection import item_crop, selected_item_mask, selection_items
from echoshare.clinic.services import appointment_status_set
from echoshare.clinic.share_status import (
    expiry_reminder_key,
    expiry_reminders_cancel,
    publication_end,
)
from echoshare.imaging.cache import render_cached
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Rect
from echoshare.imaging.models import DeviceRule
from echoshare.imaging.render import RenderResult
from echoshare.jobs import PermanentError
from echoshare.lib.secrets import argon2_hash, new_delete_code
from echoshare.notify.models import Message
from echoshare.notify.sealing import SealBrokenError, seal, unseal
from echoshare.notify.services import expiry_reminder_at, message_queue

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)
State = Publication.State


class PublishBlocked(Exception):
    """Publishing is not possible now; `reasons` are sentences for staff."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class ShareActionError(Exception):
    """A staff action on a share failed (the portal refused it or could not be reached).

    `portal_error` is the portal's refusal or the failure to reach it, when that was the cause.
    """

    def __init__(
        self, message: str, *, portal_error: portal_client.PortalError | None = None
    ) -> None:
        super().__init__(message)
        self.portal_error = portal_error


# --- small helpers ------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months; the 31st becomes the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def last_day(expires_at: datetime) -> date:
    """The last calendar day (clinic time) on which the link still works."""
    return timezone.localtime(expires_at - timedelta(microseconds=1)).date()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _patient_ref(appointment: Appointment) -> str:
    return appointment.patient.patient_id


def _object_ref(publication: Publication) -> str:
    return f"share {publication.key}"


def _channels(appointment: Appointment) -> list[tuple[str, str]]:
    """(channel, recipient) the patient consented to and has contact details for."""
    patient = appointment.patient
    channels: list[tuple[str, str]] = []
    if patient.consent_sms and patient.phone:
        channels.append((Message.Channel.SMS, patient.phone))
    if patient.consent_email and patient.email:
        channels.append((Message.Channel.EMAIL, patient.email))
    return channels


# --- blockers and hold --------------------------------------------------------------------


def publish_blockers(*, appointment: Appointment, ignore_open: bool = False) -> list[str]:
    """Why the images cannot be published now (empty: they can). Reads image headers.

    The reasons are shown to staff, in the active language."""
    patient = appointment.patient
    reasons: list[str] = []
    if appointment.status == Appointment.Status.CANCELLED:
        reasons.append(_("The appointment is cancelled."))
    if appointment.on_hold:
        reasons.append(_("The exam is on hold."))
    if not (patient.consent_sms or patient.consent_email):
        reasons.append(_("The patient has not consented to receiving images."))
    elif not _channels(appointment):
        reasons.append(_("No phone number or e-mail address for the consented channel."))
    if not appointment.password_hash:
        reasons.append(_("The appointment has no password yet: send the password first."))
    if not ignore_open and appointment.publications.open().exists():
        reasons.append(_("The images are already published: republish to change them."))
    items = selection_items(appointment=appointment)
    if not items:
        reasons.append(_("No images are selected."))
    for number, item in enumerate(items, start=1):
        mask = selected_item_mask(item=item)
        if mask.branch == "needs_review":
            reasons.append(
                _("Image %(number)d needs review: set a crop box. (%(note)s)")
                % {"number": number, "note": mask.note}
            )
    return reasons


def appointment_hold_set(
    *, appointment: Appointment, on_hold: bool, user: User | None, reason: str = ""
) -> Appointment:
    """Put an exam on hold (nothing is published, not even automatically) or release it."""
    with transaction.atomic():
        appointment.on_hold = on_hold
        appointment.hold_reason = reason[:200] if on_hold else ""
        appointment.hold_by = user if on_hold and user is not None else None
        appointment.hold_at = timezone.now() if on_hold else None
        appointment.save(
            update_fields=["on_hold", "hold_reason", "hold_by", "hold_at", "updated_at"]
        )
        audit_record(
            event=events.APPOINTMENT_HOLD_SET,
            user=user,
            patient_ref=_patient_ref(appointment),
            object_ref=f"appointment {appointment.accession_number}",
            detail="on hold" if on_hold else "released",
            source="web",
        )
    return appointment


# --- publishing ---------------------------------------------------------------------------


def _enqueue_publish(publication_id: int) -> None:
    from echoshare.clinic.tasks import publish_share  # tasks imports this module

    transaction.on_commit(lambda: publish_share.enqueue(publication_id=publication_id))


def share_publish(
    *, appointment: Appointment, user: User | None, source: str = "web"
) -> Publication:
    """Queue the render + publish job. Raises PublishBlocked with the reasons.

    A publication that failed earlier is queued again with its own Idempotency-Key: the
    portal may have made that share before the failure, and must replay it, not add one.
    """
    blockers = publish_blockers(appointment=appointment)
    if blockers:
        raise PublishBlocked(blockers)
    with transaction.atomic():
        Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
        publication = appointment.publications.filter(state=State.FAILED).first()
        if publication is None:
            now = timezone.now()
            publication = Publication.objects.create(
                appointment=appointment,
                idempotency_key=f"es-{uuid.uuid4().hex}",
                expires_at=add_months(now, settings.DEFAULT_SHARE_MONTHS),
                created_by=user,
            )
        else:
            publication.state, publication.error = State.QUEUED, ""
            publication.save(update_fields=["state", "error"])
        audit_record(
            event=events.SHARE_PUBLISH_REQUESTED,
            user=user,
            patient_ref=_patient_ref(appointment),
            object_ref=_object_ref(publication),
            source=source,
        )
        _enqueue_publish(publication.pk)
    return publication


def _render(item: SelectedItem, *, frame: int | None, crop: Rect | None) -> RenderResult:
    if item.media is not None:  # exported JPEG/PNG/MP4: re-encoded, only with a staff crop
        return exported_media_render(media=item.media, crop=crop)
    if item.instance is None:  # the database's check constraint rules this out
        raise ImageRefused("the item has no image")
    current = item.instance.current_file()
    if current is None:
        raise ImageRefused("the image has no archived file")
    return render_cached(
        Path(settings.ARCHIVE_DIR) / current.relative_path,
        file_hash=current.sha256,
        rules=DeviceRule.objects.specs(),
        frame=frame,
        crop=crop,
    )


def _upload_item(result: RenderResult) -> portal_client.UploadItem:
    out = result.outputs
    if "clip" in out:
        return portal_client.UploadItem(
            kind="clip", file=out["clip"], thumbnail=out["thumbnail"], poster=out["still"]
        )
    return portal_client.UploadItem(kind="still", file=out["still"], thumbnail=out["thumbnail"])


def _fail(publication: Publication, error: str) -> Publication:
    with transaction.atomic():
        publication.state, publication.error = State.FAILED, error[:500]
        publication.save(update_fields=["state", "error"])
        audit_record(
            event=events.SHARE_PUBLISH_FAILED,
            outcome=events.FAILURE,
            patient_ref=_patient_ref(publication.appointment),
            object_ref=_object_ref(publication),
            detail=error[:300],
            source="worker",
        )
    return publication


def _prepare(publication: Publication) -> list[RenderResult] | None:
    """First attempt: render, make the delete code, store the request. None: blocked."""
    appointment = publication.appointment
    blockers = publish_blockers(appointment=appointment, ignore_open=True)
    if blockers:
        _fail(publication, " ".join(blockers))
        return None
    items = selection_items(appointment=appointment)
    results = []
    for number, item in enumerate(items, start=1):
        try:
            result = _render(item, frame=item.frame, crop=item_crop(item))
        except ImageRefused as exc:
            _fail(publication, f"Image {number} cannot be rendered: {exc}")
            return None
        if not result.publishable:
            _fail(publication, f"Image {number} needs review: set a crop box.")
            return None
        results.append(result)
    code = new_delete_code()
    publication.request = {
        "manifest": {
            "password_hash": appointment.password_hash,
            "delete_code_hash": argon2_hash(code),
            "language": appointment.patient.language,
            "expires_at": _iso(publication.expires_at),
        },
        "items": [
            {"id": item.pk, "frame": result.still_frame, "crop": item.crop or []}
            for item, result in zip(items, results, strict=True)
        ],
    }
    publication.secrets_sealed = seal({"delete_code": code})
    publication.items = len(items)
    publication.save(update_fields=["request", "secrets_sealed", "items"])
    return results


def _rendered_again(publication: Publication) -> list[RenderResult] | None:
    """A retry: the same items with the same frame and crop (the render cache has them).
    None: an item is gone (its image was deleted), so the request cannot be repeated."""
    results = []
    for entry in publication.request["items"]:
        item = (
            SelectedItem.objects.select_related("instance", "media").filter(pk=entry["id"]).first()
        )
        if item is None:
            _fail(publication, "An image was removed while publishing: republish.")
            return None
        crop = Rect(*entry["crop"]) if entry["crop"] else None
        try:
            results.append(_render(item, frame=entry["frame"], crop=crop))
        except ImageRefused as exc:
            _fail(publication, f"An image cannot be rendered again: {exc}")
            return None
    return results


def publication_run(*, publication_id: int) -> Publication:
    """The job: publish (or replay) one publication. Raises for a retryable portal failure
    (the job queue retries with the same key) and PermanentError for a refusal."""
    publication = Publication.objects.select_related("appointment__patient").get(pk=publication_id)
    if publication.state not in (State.QUEUED, State.FAILED):
        return publication
    results = _rendered_again(publication) if publication.request else _prepare(publication)
    if results is None:
        return publication
    try:
        created = portal_client.share_create(
            manifest=publication.request["manifest"],
            items=[_upload_item(result) for result in results],
            idempotency_key=publication.idempotency_key,
        )
    except portal_client.PortalError as exc:
        if exc.retryable:  # the job is retried with the same key and request
            Publication.objects.filter(pk=publication.pk, portal_share_id="").update(
                state=State.FAILED, error=f"{exc}; trying again"[:500]
            )
            raise
        # Refused: no share was made, so the next attempt may start afresh with a new key.
        publication.request, publication.idempotency_key = {}, f"es-{uuid.uuid4().hex}"
        publication.save(update_fields=["request", "idempotency_key"])
        _fail(publication, f"The portal refused the share: {exc}")
        raise PermanentError(str(exc)) from exc
    return _published(publication.pk, created)


def _published(publication_id: int, created: portal_client.CreatedShare) -> Publication:
    with transaction.atomic():
        publication = (
            Publication.objects.select_for_update()
            .select_related("appointment__patient")
            .get(pk=publication_id)
        )
        if publication.portal_share_id:  # a parallel run got here first
            return publication
        code = str(unseal(publication.secrets_sealed)["delete_code"])
        publication.portal_share_id = created.share_id
        publication.expires_at = datetime.fromisoformat(created.expires_at)
        if publication.state == State.REVOKED:  # staff revoked while the upload ran
            publication.save()
            transaction.on_commit(lambda: _revoke_quietly(created.share_id))
            return publication
        publication.secrets_sealed = seal({"link": created.url, "delete_code": code})
        publication.state, publication.error = State.SENT, ""
        publication.sent_at = timezone.now()
        publication.save()
        errors = _link_messages_queue(publication, link=created.url, code=code, cause="link")
        errors += _expiry_reminders_queue(publication, link=created.url)
        if errors:
            publication.error = " ".join(errors)[:500]
            publication.save(update_fields=["error"])
        audit_record(
            event=events.SHARE_PUBLISHED,
            responsible_user=publication.created_by,
            patient_ref=_patient_ref(publication.appointment),
            object_ref=_object_ref(publication),
            detail=f"{publication.items} items, until {last_day(publication.expires_at)}",
            source="worker",
        )
    return publication


def _revoke_quietly(share_id: str) -> None:
    try:
        portal_client.share_revoke(share_id=share_id)
    except portal_client.PortalError:
        logger.exception("revoking share %s after a staff revoke failed", share_id)


def _link_messages_queue(
    publication: Publication, *, link: str, code: str, cause: str
) -> list[str]:
    """Queue the link message on every consented channel; returns problems for staff."""
    appointment = publication.appointment
    context = {
        "clinic_name": settings.CLINIC_NAME,
        "link": link,
        "delete_code": code,
        "expires_on": last_day(publication.expires_at),
        "exam_type": appointment.exam_type,
    }
    if settings.CLINIC_PHONE:
        context["clinic_phone"] = settings.CLINIC_PHONE
    errors = []
    for channel, recipient in _channels(appointment):
        try:
            message_queue(
                kind=Message.Kind.SHARE_LINK,
                channel=channel,
                recipient=recipient,
                language=appointment.patient.language,
                context=context,
                patient_ref=_patient_ref(appointment),
                idempotency_key=f"publication:{publication.key}:{cause}:{channel}",
            )
        except ValueError as exc:
            errors.append(f"{channel} not queued: {exc}.")
    return errors


def _expiry_reminders_queue(publication: Publication, *, link: str) -> list[str]:
    send_after = expiry_reminder_at(publication.expires_at)
    if send_after is None:
        return []
    appointment = publication.appointment
    errors = []
    for channel, recipient in _channels(appointment):
        try:
            message_queue(
                kind=Message.Kind.EXPIRY_REMINDER,
                channel=channel,
                recipient=recipient,
                language=appointment.patient.language,
                context={
                    "clinic_name": settings.CLINIC_NAME,
                    "link": link,
                    "expires_on": last_day(publication.expires_at),
                },
                patient_ref=_patient_ref(appointment),
                idempotency_key=expiry_reminder_key(publication, channel),
                send_after=send_after,
            )
        except ValueError as exc:
            errors.append(f"{channel} reminder not queued: {exc}.")
    return errors


# --- staff actions on a share ---------------------------------------------------------------


def _secrets(publication: Publication) -> dict[str, Any]:
    if not publication.is_open or not publication.secrets_sealed:
        raise ShareActionError("this share has ended or is not published yet")
    try:
        return unseal(publication.secrets_sealed)
    except SealBrokenError as exc:
        raise ShareActionError(str(exc)) from exc


def _portal(call: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return call(**kwargs)  # type: ignore[no-any-return]
    except portal_client.PortalError as exc:
        raise ShareActionError(f"the portal did not accept it: {exc}", portal_error=exc) from exc


def _staff_audit(
    publication: Publication,
    event: str,
    user: User | None,
    detail: str = "",
    *,
    source: str = "web",
) -> None:
    audit_record(
        event=event,
        user=user,
        patient_ref=_patient_ref(publication.appointment),
        object_ref=_object_ref(publication),
        detail=detail,
        source=source,
    )


def share_resend(*, publication: Publication, user: User | None) -> None:
    """Send the link message again (new messages: the first ones may have been delivered)."""
    secrets = _secrets(publication)
    if "link" not in secrets:
        raise ShareActionError("the share is not published yet")
    with transaction.atomic():
        errors = _link_messages_queue(
            publication,
            link=secrets["link"],
            code=secrets["delete_code"],
            cause=f"resend:{uuid.uuid4().hex[:12]}",
        )
        if errors and len(errors) == len(_channels(publication.appointment)):
            raise ShareActionError(" ".join(errors))
        _staff_audit(publication, events.SHARE_RESENT, user)


def share_extend(*, publication: Publication, until: date, user: User | None) -> Publication:
    """Let the link work through `until` (clinic time); the expiry reminder moves with it."""
    secrets = _secrets(publication)
    if until < timezone.localdate():
        raise ShareActionError("the new last day is in the past")
    expires_at = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min))
    answer = _portal(
        portal_client.share_extend,
        share_id=publication.portal_share_id,
        expires_at=_iso(expires_at),
    )
    with transaction.atomic():
        expiry_reminders_cancel(publication)
        publication.expires_at = datetime.fromisoformat(str(answer["expires_at"]))
        publication.save(update_fields=["expires_at"])
        _expiry_reminders_queue(publication, link=secrets["link"])
        _staff_audit(publication, events.SHARE_EXTENDED, user, f"until {until}")
    return publication


def share_revoke(
    *, publication: Publication, user: User | None, source: str = "web", detail: str = ""
) -> Publication:
    """End the share now: the patient's link stops working at once.

    Staff press Revoke (source "web"); after a destruction on request the job
    `revoke_destroyed_shares` calls it with source "scheduler" and the request as `detail`.
    """
    if publication.has_ended:
        return publication
    if publication.portal_share_id:
        _portal(portal_client.share_revoke, share_id=publication.portal_share_id)
    with transaction.atomic():
        locked = Publication.objects.select_for_update().get(pk=publication.pk)
        if not locked.has_ended:
            publication_end(publication=locked, state=State.REVOKED)
            _staff_audit(locked, events.SHARE_REVOKED, user, detail, source=source)
    publication.refresh_from_db()
    return publication


def share_lock_reset(*, publication: Publication, user: User | None) -> Publication:
    """Lift the password locks and re-enable the delete code (after the patient called)."""
    _secrets(publication)
    answer = _portal(portal_client.share_reset_lockouts, share_id=publication.portal_share_id)
    with transaction.atomic():
        publication.last_status = "unlocked" if not answer.get("locked") else "locked"
        publication.last_status_at = timezone.now()
        publication.save(update_fields=["last_status", "last_status_at"])
        _staff_audit(publication, events.SHARE_LOCK_RESET, user)
    return publication


def share_republish(*, appointment: Appointment, user: User | None) -> Publication:
    """Publish the current selection as a new share; the open share is revoked first."""
    blockers = publish_blockers(appointment=appointment, ignore_open=True)
    if blockers:
        raise PublishBlocked(blockers)
    for publication in appointment.publications.open():
        share_revoke(publication=publication, user=user)
    appointment.publications.filter(state=State.FAILED).update(state=State.REVOKED)
    return share_publish(appointment=appointment, user=user)


# --- after a destruction on request (docs/archive.md) -----------------------------------------


def exam_shares_revoke_later(*, appointment_id: int, reason: str) -> int:
    """Call inside the transaction that destroys an exam's archived data: every share of the
    exam that has not ended is revoked by a job after the commit. Returns how many.

    The ids are taken now, so a share published later from newly received images is not
    revoked by a late retry. Failed publications count too: a retry of one may be uploading
    right now, and `_published` revokes a share whose publication was revoked meanwhile.
    The portal is never called here: the destruction neither waits for it nor fails with it.
    """
    ids = list(
        Publication.objects.filter(appointment_id=appointment_id)
        .exclude(state__in=Publication.ENDED_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        from echoshare.clinic.tasks import revoke_destroyed_shares  # tasks imports this module

        transaction.on_commit(
            lambda: revoke_destroyed_shares.enqueue(publication_ids=ids, reason=reason)
        )
    return len(ids)


def _ended_on_portal(error: portal_client.PortalError) -> bool:
    """The portal no longer serves the share: it ended there (deleted by the patient,
    expired: 409 share_ended; a revoked one answers 200) or its tombstone is gone (404)."""
    return (error.status, error.error) in ((409, "share_ended"), (404, "not_found"))


def shares_revoke_after_destruction(*, publication_ids: list[int], reason: str) -> int:
    """The job: revoke these shares through `share_revoke` (audited, source "scheduler").
    Returns how many were revoked now.

    Repeatable: ended shares are skipped, so a retry picks up only what is left. A share that
    already ended on the portal counts as done (the status pull records how it ended). Raises
    the portal's error when it could not be reached (the queue retries after its backoff),
    and PermanentError when the portal refused for another reason.
    """
    revoked = 0
    unreachable: portal_client.PortalError | None = None
    refused: list[str] = []
    for publication_id in publication_ids:
        publication = (
            Publication.objects.select_related("appointment__patient")
            .filter(pk=publication_id)
            .first()
        )
        if publication is None or publication.has_ended:
            continue
        try:
            share_revoke(publication=publication, user=None, source="scheduler", detail=reason)
        except ShareActionError as exc:
            error = exc.portal_error
            if error is not None and _ended_on_portal(error):
                logger.info("share %s had ended on the portal already", publication.key)
            elif error is not None and error.retryable:
                unreachable = error  # the others are still tried: one may succeed
            else:
                refused.append(f"share {publication.key}: {exc}")
            continue
        revoked += 1
    if unreachable is not None:
        raise unreachable
    if refused:
        raise PermanentError("; ".join(refused))
    return revoked


def destroyed_shares_sweep() -> int:
    """The hourly safety net: revoke the shares of destroyed exams that are still open, for
    when the revoke job gave up (the portal was down longer than its retries last).
    Returns how many were revoked now; raises like `shares_revoke_after_destruction`."""
    destructions = DestructionRequest.objects.filter(
        status=DestructionRequest.Status.EXECUTED,
        accession_number__gt="",
        accession_number=OuterRef("appointment__accession_number"),
        # Only shares made before the destruction: a later one shows images received since.
        executed_at__gte=OuterRef("created_at"),
    ).order_by("executed_at")
    owed = (
        Publication.objects.exclude(state__in=Publication.ENDED_STATES)
        .annotate(destruction=Subquery(destructions.values("key")[:1]))
        .filter(destruction__isnull=False)
        .order_by("pk")
        .values_list("pk", "destruction")
    )
    by_request: dict[str, list[int]] = {}
    for publication_id, request_key in owed:
        by_request.setdefault(request_key, []).append(publication_id)
    revoked = 0
    for request_key, ids in by_request.items():
        revoked += shares_revoke_after_destruction(
            publication_ids=ids, reason=f"destruction:{request_key}"
        )
    return revoked


# --- password and contact details -----------------------------------------------------------


def _password(appointment: Appointment) -> str:
    """The readable password, or a new one (also set on the open shares) if it was dropped."""
    try:
        return password_reveal(appointment=appointment)
    except PasswordUnavailable:
        password = password_issue(appointment=appointment)
        for publication in appointment.publications.open().exclude(portal_share_id=""):
            _portal(
                portal_client.share_password_set,
                share_id=publication.portal_share_id,
                password_hash=appointment.password_hash,
            )
        return password


def password_resend(*, appointment: Appointment, user: User | None) -> None:
    """E-mail the password again (the confirmation text). Raises ShareActionError without
    an e-mail address: print a slip instead."""
    patient = appointment.patient
    if not patient.email:
        raise ShareActionError("the patient has no e-mail address: print a password slip")
    with transaction.atomic():
        password = _password(appointment)
        try:
            message_queue(
                kind=Message.Kind.BOOKING_CONFIRMATION,
                channel=Message.Channel.EMAIL,
                recipient=patient.email,
                language=patient.language,
                context=booking_context(appointment=appointment, password=password),
                patient_ref=patient.patient_id,
                idempotency_key=f"appointment:{appointment.pk}:password:{uuid.uuid4().hex[:12]}",
            )
        except ValueError as exc:
            raise ShareActionError(str(exc)) from exc
        audit_record(
            event=events.PASSWORD_SENT,
            user=user,
            patient_ref=patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            detail="by e-mail",
            source="web",
        )


SLIP = {
    "nl": (
        "{clinic}\n\nUw echo van {when}\n\nWachtwoord: {password}\n\n"
        "Na het onderzoek krijgt u een link per sms of e-mail. Met dit wachtwoord opent u de "
        "beelden. De link werkt {months} maanden; download de beelden op tijd. Met de "
        "wiscode uit het bericht kunt u de beelden zelf verwijderen.\n"
    ),
    "en": (
        "{clinic}\n\nYour scan on {when}\n\nPassword: {password}\n\n"
        "After the exam you get a link by text message or e-mail. This password opens the "
        "images. The link works for {months} months; download the images in time. With the "
        "delete code in the message you can remove the images yourself.\n"
    ),
}


def password_slip(*, appointment: Appointment, user: User | None) -> str:
    """The text of a printed password slip for a patient without e-mail (audited)."""
    language = appointment.patient.language if appointment.patient.language in SLIP else "nl"
    with transaction.atomic():
        password = _password(appointment)
        audit_record(
            event=events.PASSWORD_SLIP_PRINTED,
            user=user,
            patient_ref=_patient_ref(appointment),
            object_ref=f"appointment {appointment.accession_number}",
            source="web",
        )
    when = timezone.localtime(appointment.scheduled_at)
    text = SLIP[language].format(
        clinic=settings.CLINIC_NAME,
        when=f"{when:%d-%m-%Y %H:%M}",
        password=password,
        months=settings.DEFAULT_SHARE_MONTHS,
    )
    if settings.CLINIC_PHONE:
        text += f"\n{settings.CLINIC_PHONE}\n"
    return text


def _phone_e164(phone: str) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, "NL")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_confirm(
    *, appointment: Appointment, phone: str, email: str, user: User | None
) -> Appointment:
    """At arrival: the front desk confirms (or corrects) phone and e-mail. Either may be
    empty. Raises ValueError naming the bad field. A newly given e-mail address gets the
    booking confirmation with the password. A booked appointment becomes arrived (audited as
    a status change); one already examined or cancelled keeps its status."""
    phone, email = phone.strip(), email.strip()
    if phone:
        try:
            phone = _phone_e164(phone)
        except ValueError as exc:
            raise ValueError(f"phone: {exc}") from exc
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValueError("e-mail: not a valid e-mail address") from exc
    patient = appointment.patient
    with transaction.atomic():
        changed = [
            name
            for name, value in (("phone", phone), ("email", email))
            if getattr(patient, name) != value
        ]
        patient.phone, patient.email = phone, email
        patient.save(update_fields=["phone", "email", "updated_at"])
        appointment.contact_confirmed_at = timezone.now()
        appointment.save(update_fields=["contact_confirmed_at", "updated_at"])
        audit_record(
            event=events.CONTACT_CONFIRMED,
            user=user,
            patient_ref=patient.patient_id,
            object_ref=f"appointment {appointment.accession_number}",
            detail="changed: " + (", ".join(changed) or "nothing"),
            source="web",
        )
        if "email" in changed and email and appointment.password_sealed:
            booking_messages_queue(appointment=appointment)
        appointment_status_set(
            appointment=appointment,
            status=Appointment.Status.ARRIVED,
            only_from=(Appointment.Status.BOOKED,),
            user=user,
            source="web",
            reason="contact details confirmed",
        )
    return appointment


# --- automatic publishing ---------------------------------------------------------------------


def auto_publish_due(*, now: datetime | None = None) -> list[Publication]:
    """With ECHOSHARE_AUTO_PUBLISH on: publish exams whose last image on the patient AE
    title arrived more than the quiet time ago and that were never published. Exams with a
    blocker (on hold, needs review, no consent ...) wait for staff."""
    if not settings.AUTO_PUBLISH:
        return []
    now = now or timezone.now()
    quiet = now - timedelta(minutes=settings.AUTO_PUBLISH_QUIET_MINUTES)
    files = "studies__instances__files__"
    candidates = (
        Appointment.objects.exclude(status=Appointment.Status.CANCELLED)
        .filter(publications__isnull=True, on_hold=False)
        .annotate(
            last_patient_image=Max(
                f"{files}received_at",
                filter=Q(**{f"{files}called_ae_title": settings.DICOM_PATIENT_AE}),
            )
        )
        .filter(last_patient_image__lte=quiet, last_patient_image__gte=now - timedelta(days=7))
        .select_related("patient")
    )
    published = []
    for appointment in candidates:
        try:
            published.append(share_publish(appointment=appointment, user=None, source="auto"))
        except PublishBlocked as exc:
            logger.info("auto-publish of appointment %s waits: %s", appointment.pk, exc)
    return published
