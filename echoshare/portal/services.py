"""The portal's actions: every write that touches several rows or files goes through here.

Patient side: `share_find`, `share_check_password`, `share_delete_by_patient`,
`event_record`. Clinic side (the API): `share_create`, `share_extend`, `share_revoke`,
`share_replace_password`, `share_reset_lockouts`. Background: `share_purge`,
`shares_purge_due`. Events are written in the same transaction as the change they record;
file removal is queued after commit.
"""

from __future__ import annotations

import base64
import calendar
import enum
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from echoshare.lib.secrets import (
    argon2_verify,
    is_argon2_hash,
    keyed_hash,
    new_token,
    normalize_delete_code,
)
from echoshare.portal import guessing, media, uploads
from echoshare.portal.models import ApiKey, Clinic, Share, ShareEvent, ShareItem

log = logging.getLogger(__name__)

EventKind = ShareEvent.Kind
# A purged share's row (no files, no secrets) is kept until the clinic has read its final
# status, and a little longer in case that answer was lost; at most TOMBSTONE_MAX_AGE.
TOMBSTONE_KEEP_AFTER_READ = timedelta(days=1)
TOMBSTONE_MAX_AGE = timedelta(days=90)
# Files of a create request that died before its commit: no row names them. Old enough that
# no create request can still be running.
ORPHAN_MIN_AGE = timedelta(days=1)
API_KEY_PREFIX = "esk_"
MAX_SHARE_MONTHS = 24


# --- Patient side ---------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return keyed_hash(settings.TOKEN_HASH_KEY, f"share-token:{token}")


def share_find(*, token: str, now: datetime | None = None) -> Share | None:
    """The open share of a link token; None for unknown, expired, revoked or deleted (B7, D1)."""
    if not token or len(token) > 100:
        return None
    share = Share.objects.select_related("clinic").filter(token_hash=token_hash(token)).first()
    if share is None or not share.is_open(now):
        return None
    return share


@dataclass(frozen=True)
class PasswordResult:
    ok: bool
    locked: bool
    retry_after: int | None  # seconds until attempts are taken again; None if not timed


def share_check_password(*, share: Share, password: str) -> PasswordResult:
    """Check a password attempt (POST only). Records password_failed / locked events."""
    now = timezone.now()
    reservation = guessing.password_attempt_reserve(share_id=share.pk, now=now)
    if not reservation.granted:
        current = reservation.share
        locked = current.is_open(now) and current.is_locked(now)
        return PasswordResult(False, locked, guessing.retry_after_seconds(current, now))
    # The hash as just read: a password the clinic replaced a moment ago no longer counts.
    if argon2_verify(reservation.share.password_hash, password):
        guessing.password_attempt_succeeded(share_id=share.pk)
        share.refresh_from_db()
        return PasswordResult(ok=True, locked=False, retry_after=None)
    share.refresh_from_db()
    with transaction.atomic():
        event_record(share=share, kind=EventKind.PASSWORD_FAILED)
        if reservation.locks:
            event_record(share=share, kind=EventKind.LOCKED)
    locked = share.is_locked(now)
    return PasswordResult(
        ok=False,
        locked=locked,
        retry_after=guessing.retry_after_seconds(share, now) if locked else None,
    )


class DeleteResult(enum.Enum):
    DELETED = "deleted"
    WRONG_CODE = "wrong_code"
    DISABLED = "disabled"  # too many wrong codes: the patient calls the clinic
    NOT_FOUND = "not_found"


def share_delete_by_patient(*, token: str, code: str) -> DeleteResult:
    """Delete a share with its link token and delete code (C2); the code is case-insensitive."""
    share = share_find(token=token)
    if share is None:
        return DeleteResult.NOT_FOUND
    if not guessing.delete_attempt_reserve(share_id=share.pk):
        return DeleteResult.DISABLED
    if not argon2_verify(share.delete_code_hash, normalize_delete_code(code)):
        share.refresh_from_db(fields=["delete_code_failures"])
        if share.delete_disabled:
            return DeleteResult.DISABLED
        return DeleteResult.WRONG_CODE
    ended = _share_end(share=share, state=Share.State.DELETED_BY_PATIENT)
    return DeleteResult.DELETED if ended else DeleteResult.NOT_FOUND


def event_record(*, share: Share, kind: str, item: ShareItem | None = None) -> None:
    """Record a pseudonymous event. Not a state change: a GET may record `viewed` (B5)."""
    ShareEvent.objects.create(
        share=share,
        clinic_id=share.clinic_id,
        kind=EventKind(kind),
        item=item,
        item_public_id=item.public_id if item else "",
    )


# --- Ending and purging ---------------------------------------------------------------------
def _enqueue_purge(share_id: int) -> None:
    from echoshare.portal.tasks import share_purge_task

    share_purge_task.enqueue(share_id)


def _share_end(
    *, share: Share, state: Share.State, now: datetime | None = None, queue_purge: bool = True
) -> bool:
    """Move an active share to an ended state; access is refused from this commit on."""
    now = now or timezone.now()
    event_kind = EventKind(state.value)
    with transaction.atomic():
        updated = Share.objects.filter(pk=share.pk, state=Share.State.ACTIVE).update(
            state=state, ended_reason=state.value, ended_at=now
        )
        if not updated:
            return False
        event_record(share=share, kind=event_kind)
        if queue_purge:
            transaction.on_commit(lambda: _enqueue_purge(share.pk))
    share.refresh_from_db()
    return True


class PurgeOutcome(enum.Enum):
    PURGED = "purged"
    FAILED = "failed"
    NOT_DUE = "not_due"


def share_purge(*, share_id: int, now: datetime | None = None) -> PurgeOutcome:
    """Remove an ended share's files and item rows and wipe its secrets (D2, D3).

    Idempotent: each item's files go before its row, so a re-run after an interruption
    finds only what is left. A storage error leaves the share in `purge_failed` with the
    error, visible to the clinic, never reported as done.
    """
    now = now or timezone.now()
    share = Share.objects.filter(pk=share_id).first()
    if share is None or share.state == Share.State.PURGED:
        return PurgeOutcome.NOT_DUE
    if share.state == Share.State.ACTIVE:
        expired = not share.is_open(now) and _share_end(
            share=share, state=Share.State.EXPIRED, now=now, queue_purge=False
        )
        if not expired:
            return PurgeOutcome.NOT_DUE
    try:
        for item in share.items.all():
            for path in item.all_paths():
                media.remove_file(path)
            item.delete()
        media.remove_folder(share.media_dir())
    except OSError as exc:
        _purge_failed(share=share, error=f"{type(exc).__name__}: {exc.strerror or exc}")
        return PurgeOutcome.FAILED
    with transaction.atomic():
        # Conditional, so that two purges of one share running at once record one event.
        done = (
            Share.objects.filter(pk=share.pk)
            .exclude(state=Share.State.PURGED)
            .update(
                state=Share.State.PURGED,
                token_hash=None,
                token_salt="",
                password_hash="",
                delete_code_hash="",
                purge_error="",
                purged_at=now,
            )
        )
        if done:
            event_record(share=share, kind=EventKind.PURGED)
    return PurgeOutcome.PURGED


def _purge_failed(*, share: Share, error: str) -> None:
    log.warning("purge of share %s failed: %s", share.public_id, error)
    with transaction.atomic():
        first = Share.objects.filter(pk=share.pk).exclude(state=Share.State.PURGE_FAILED)
        if first.update(state=Share.State.PURGE_FAILED, purge_error=error[:500]):
            event_record(share=share, kind=EventKind.PURGE_FAILED)
        else:
            Share.objects.filter(pk=share.pk).update(purge_error=error[:500])


@dataclass
class PurgeCounts:
    due: int = 0
    purged: int = 0
    failed: int = 0
    tombstones_removed: int = 0
    orphans_removed: int = 0


def _due_shares(now: datetime) -> list[int]:
    ended = Share.objects.filter(state__in=[*Share.ENDINGS, Share.State.PURGE_FAILED]).values_list(
        "pk", flat=True
    )
    expired = Share.objects.filter(state=Share.State.ACTIVE, expires_at__lte=now).values_list(
        "pk", flat=True
    )
    return sorted({*ended, *expired})


def _old_tombstones(now: datetime) -> list[int]:
    purged = Share.objects.filter(state=Share.State.PURGED)
    read = purged.filter(final_status_read_at__lt=now - TOMBSTONE_KEEP_AFTER_READ)
    old = purged.filter(purged_at__lt=now - TOMBSTONE_MAX_AGE)
    return sorted({*read.values_list("pk", flat=True), *old.values_list("pk", flat=True)})


def shares_purge_due(*, now: datetime | None = None, dry_run: bool = False) -> PurgeCounts:
    """Expire and purge every share that is due; drop tombstones whose status was read."""
    now = now or timezone.now()
    due = _due_shares(now)
    tombstones = _old_tombstones(now)
    known = set(Share.objects.values_list("storage_dir", flat=True))
    orphans = media.orphan_folders(known=known, older_than=now - ORPHAN_MIN_AGE)
    counts = PurgeCounts(
        due=len(due), tombstones_removed=len(tombstones), orphans_removed=len(orphans)
    )
    if dry_run:
        return counts
    for share_id in due:
        outcome = share_purge(share_id=share_id, now=now)
        counts.purged += outcome is PurgeOutcome.PURGED
        counts.failed += outcome is PurgeOutcome.FAILED
    Share.objects.filter(pk__in=tombstones, state=Share.State.PURGED).delete()
    for folder in orphans:
        try:
            media.remove_tree(folder)
        except OSError as exc:
            log.warning("removing an orphaned share folder failed: %s", exc.strerror)
            counts.orphans_removed -= 1
            counts.failed += 1
    return counts


# --- Clinic side: tenants and keys ------------------------------------------------------------
def clinic_create(*, name: str, language: str = "nl", share_months: int | None = None) -> Clinic:
    months = share_months if share_months is not None else settings.DEFAULT_SHARE_MONTHS
    return Clinic.objects.create(name=name, default_language=language, default_share_months=months)


def clinic_set_logo(*, clinic: Clinic, source: IO[bytes]) -> Clinic:
    """Store a checked PNG/JPEG logo under a random name; the previous one is removed."""
    suffix = uploads.check_logo(source)
    previous = clinic.logo.name if clinic.logo else ""
    clinic.logo.save(f"logo{suffix}", File(source), save=True)
    if previous:
        clinic.logo.storage.delete(previous)
    return clinic


def apikey_hash(key: str) -> str:
    return keyed_hash(settings.TOKEN_HASH_KEY, f"api-key:{key}")


def apikey_create(*, clinic: Clinic, label: str = "") -> tuple[ApiKey, str]:
    """A new API key; the plaintext is returned once and never stored."""
    prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{prefix}_{new_token(24)}"
    api_key = ApiKey.objects.create(
        clinic=clinic, prefix=prefix, key_hash=apikey_hash(key), label=label
    )
    return api_key, key


def apikey_revoke(*, prefix: str) -> bool:
    return bool(
        ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def apikey_authenticate(*, key: str) -> Clinic | None:
    """The clinic of an active key; None for anything else (compared in constant time)."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
        return None
    prefix = key[len(API_KEY_PREFIX) :].split("_", 1)[0]
    api_key = ApiKey.objects.select_related("clinic").filter(prefix=prefix).first()
    if api_key is None or not api_key.is_active:
        return None
    if not hmac.compare_digest(api_key.key_hash, apikey_hash(key)):
        return None
    return api_key.clinic


# --- Clinic side: shares ----------------------------------------------------------------------
class ShareError(Exception):
    """A request the portal refuses; `code` is the API's error name, `status` its HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class ItemUpload:
    """One checked item to store: the main file, its thumbnail, and a clip's poster."""

    kind: str
    file: IO[bytes]
    thumbnail: IO[bytes]
    poster: IO[bytes] | None = None


@dataclass(frozen=True)
class ShareCreated:
    share: Share
    token: str
    created: bool  # False: a replay of the same Idempotency-Key

    @property
    def url(self) -> str:
        return f"{settings.PORTAL_URL}/s/{self.token}"


def add_months(moment: datetime, months: int) -> datetime:
    """The same local time `months` calendar months later (31 Jan + 1 -> 28/29 Feb)."""
    local = timezone.localtime(moment)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return local.replace(year=year, month=month, day=min(local.day, last_day))


def _derive_token(*, salt: str, clinic: Clinic, idempotency_key: str) -> str:
    """The link token of a create request: 128 bits from a random salt, re-derivable only by
    the portal from the same clinic and Idempotency-Key, so a replay gets the same URL."""
    message = f"share-token:{salt}:{clinic.public_id}:{idempotency_key}".encode()
    key = settings.TOKEN_HASH_KEY.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check_hash(value: str, what: str) -> None:
    if not isinstance(value, str) or not is_argon2_hash(value) or len(value) > 255:
        raise ShareError("invalid_hash", f"{what} must be an argon2id hash ($argon2id$...)")


def _replay(*, share: Share, idempotency_key: str, request_hash: str) -> ShareCreated:
    if not hmac.compare_digest(share.request_hash, request_hash):
        raise ShareError(
            "idempotency_conflict", "this Idempotency-Key was used for a different request", 409
        )
    if not share.token_salt:
        raise ShareError("share_gone", "the share of this Idempotency-Key was removed", 410)
    token = _derive_token(
        salt=share.token_salt, clinic=share.clinic, idempotency_key=idempotency_key
    )
    return ShareCreated(share=share, token=token, created=False)


def share_replay(*, clinic: Clinic, idempotency_key: str, request_hash: str) -> ShareCreated | None:
    """The earlier answer to a replayed create request; None when the key is new."""
    existing = Share.objects.filter(
        clinic=clinic, idempotency_key_hash=_idempotency_hash(clinic, idempotency_key)
    ).first()
    if existing is None:
        return None
    return _replay(share=existing, idempotency_key=idempotency_key, request_hash=request_hash)


def _idempotency_hash(clinic: Clinic, idempotency_key: str) -> str:
    return keyed_hash(settings.TOKEN_HASH_KEY, f"idempotency:{clinic.public_id}:{idempotency_key}")


def share_final_status_read(*, share_ids: Sequence[int]) -> None:
    """The clinic has seen that these shares are purged: their tombstones may go (soon)."""
    Share.objects.filter(
        pk__in=share_ids, state=Share.State.PURGED, final_status_read_at__isnull=True
    ).update(final_status_read_at=timezone.now())


def share_create(
    *,
    clinic: Clinic,
    idempotency_key: str,
    request_hash: str,
    password_hash: str,
    delete_code_hash: str,
    items: Sequence[ItemUpload],
    language: str | None = None,
    expires_at: datetime | None = None,
) -> ShareCreated:
    """Store a share's files and rows; a replay of the same key returns the same share."""
    replay = share_replay(clinic=clinic, idempotency_key=idempotency_key, request_hash=request_hash)
    if replay is not None:
        return replay
    _check_hash(password_hash, "password_hash")
    _check_hash(delete_code_hash, "delete_code_hash")
    now = timezone.now()
    expires_at = expires_at or add_months(now, clinic.default_share_months)
    if expires_at <= now:
        raise ShareError("invalid_expiry", "expires_at must be in the future")
    if expires_at > add_months(now, MAX_SHARE_MONTHS):
        raise ShareError("invalid_expiry", f"expires_at: at most {MAX_SHARE_MONTHS} months ahead")
    if not items:
        raise ShareError("no_items", "a share needs at least one item")
    salt = secrets.token_hex(16)
    token = _derive_token(salt=salt, clinic=clinic, idempotency_key=idempotency_key)
    share = Share(
        clinic=clinic,
        token_hash=token_hash(token),
        token_salt=salt,
        idempotency_key_hash=_idempotency_hash(clinic, idempotency_key),
        request_hash=request_hash,
        password_hash=password_hash,
        delete_code_hash=delete_code_hash,
        language=language or clinic.default_language,
        expires_at=expires_at,
    )
    if not _save_share(share, _store_items(share=share, items=items)):
        # A parallel request with the same key won: answer as its replay.
        replay = share_replay(
            clinic=clinic, idempotency_key=idempotency_key, request_hash=request_hash
        )
        if replay is None:
            raise ShareError("conflict", "the share could not be saved; retry", 409)
        return replay
    return ShareCreated(share=share, token=token, created=True)


def _save_share(share: Share, rows: list[ShareItem]) -> bool:
    """Save the rows of files already stored; on any failure remove the files again."""
    try:
        with transaction.atomic():
            share.save()
            for row in rows:
                row.share = share
            ShareItem.objects.bulk_create(rows)
    except IntegrityError:
        _remove_items(rows, share)
        return False
    except BaseException:
        _remove_items(rows, share)
        raise
    return True


def _store_items(*, share: Share, items: Sequence[ItemUpload]) -> list[ShareItem]:
    rows: list[ShareItem] = []
    counters = {ShareItem.Kind.STILL: 0, ShareItem.Kind.CLIP: 0}
    try:
        for position, upload in enumerate(items, start=1):
            kind = ShareItem.Kind(upload.kind)
            counters[kind] += 1
            rows.append(_store_item(share, upload, kind, position, counters[kind]))
    except BaseException:
        _remove_items(rows, share)
        raise
    return rows


def _store_item(
    share: Share, upload: ItemUpload, kind: ShareItem.Kind, position: int, number: int
) -> ShareItem:
    is_clip = kind == ShareItem.Kind.CLIP
    main = media.store_file(
        upload.file, folder=share.storage_dir, suffix=".mp4" if is_clip else ".jpg"
    )
    row = ShareItem(
        share=share,
        kind=kind,
        position=position,
        file_key=main.key,
        size=main.size,
        sha256=main.sha256,
        etag=f'"{main.sha256[:32]}"',
        file_name=f"echo-clip-{number:02d}.mp4" if is_clip else f"echo-{number:02d}.jpg",
        content_type="video/mp4" if is_clip else "image/jpeg",
    )
    try:
        row.thumbnail_key = media.store_file(
            upload.thumbnail, folder=share.storage_dir, suffix=".jpg"
        ).key
        if upload.poster is not None:
            row.poster_key = media.store_file(
                upload.poster, folder=share.storage_dir, suffix=".jpg"
            ).key
    except BaseException:
        _remove_items([row], share)
        raise
    return row


def _remove_items(rows: Sequence[ShareItem], share: Share) -> None:
    for row in rows:
        for path in row.all_paths():
            media.remove_file(path)
    try:
        media.remove_folder(share.media_dir())
    except OSError:
        log.warning("could not remove the folder of an unsaved share")


def _clinic_share(share: Share) -> None:
    if share.state != Share.State.ACTIVE:
        raise ShareError("share_ended", f"the share is {share.state}", 409)


def share_extend(*, share: Share, expires_at: datetime) -> Share:
    """Move an open share's expiry (later or earlier, but in the future)."""
    now = timezone.now()
    if not share.is_open(now):
        raise ShareError("share_ended", "the share is no longer open", 409)
    if expires_at <= now:
        raise ShareError("invalid_expiry", "expires_at must be in the future")
    if expires_at > add_months(now, MAX_SHARE_MONTHS):
        raise ShareError("invalid_expiry", f"expires_at: at most {MAX_SHARE_MONTHS} months ahead")
    Share.objects.filter(pk=share.pk, state=Share.State.ACTIVE).update(expires_at=expires_at)
    share.refresh_from_db()
    return share


def share_revoke(*, share: Share) -> Share:
    """Stop all access at once; the files are removed by a queued job. Repeating is fine."""
    if share.state == Share.State.REVOKED:
        return share
    _clinic_share(share)
    if not _share_end(share=share, state=Share.State.REVOKED):
        share.refresh_from_db()
        _clinic_share(share)
    return share


def share_replace_password(*, share: Share, password_hash: str) -> Share:
    """A new password (e.g. the patient lost it): old guesses no longer count."""
    _check_hash(password_hash, "password_hash")
    _clinic_share(share)
    Share.objects.filter(pk=share.pk, state=Share.State.ACTIVE).update(
        password_hash=password_hash,
        failed_password_count=0,
        total_failed_password_count=0,
        locked_until=None,
        hard_locked=False,
    )
    share.refresh_from_db()
    return share


def share_reset_lockouts(*, share: Share) -> Share:
    """The clinic lifts the password locks and re-enables the delete code."""
    _clinic_share(share)
    Share.objects.filter(pk=share.pk, state=Share.State.ACTIVE).update(
        failed_password_count=0,
        total_failed_password_count=0,
        locked_until=None,
        hard_locked=False,
        delete_code_failures=0,
    )
    share.refresh_from_db()
    return share
