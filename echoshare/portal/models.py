"""The portal's data: clinics (tenants), their API keys, shares, items and share events.

Nothing here identifies a person (DESIGN, SECURITY G2): a share knows only hashes of its
link token, password and delete code, its files (stored under server-made random names) and
pseudonymous events. Public ids are random; database ids never leave the portal.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone

_PUBLIC_ID_ALPHABET = string.ascii_letters + string.digits


def new_public_id() -> str:
    """A random id for URLs, the API and commands: 16 letters or digits (95 bits), never
    starting with a '-' that a command line would take for an option."""
    return "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(16))


def new_storage_dir() -> str:
    return secrets.token_hex(16)


class Language(models.TextChoices):
    NL = "nl", "Nederlands"
    EN = "en", "English"


class LogoStorage(FileSystemStorage):
    """Clinic logos under PORTAL_MEDIA_DIR/logos, read from the settings at use time."""

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(Path(settings.PORTAL_MEDIA_DIR) / "logos")

    @property  # type: ignore[override]
    def location(self) -> str:
        return str((Path(settings.PORTAL_MEDIA_DIR) / "logos").resolve())

    def deconstruct(self) -> tuple[str, tuple[object, ...], dict[str, object]]:
        return ("echoshare.portal.models.LogoStorage", (), {})


_LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _logo_name(instance: Clinic, filename: str) -> str:
    # Never the uploaded name: a random one, keeping only a known extension.
    suffix = Path(filename).suffix.lower()
    return secrets.token_hex(16) + (suffix if suffix in _LOGO_SUFFIXES else ".png")


class Clinic(models.Model):
    """A tenant: one clinic with its name, logo, default language and share lifetime."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200)
    logo = models.FileField(upload_to=_logo_name, storage=LogoStorage(), blank=True)
    default_language = models.CharField(max_length=2, choices=Language.choices, default=Language.NL)
    default_share_months = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A clinic's key for the API: stored as a keyed hash, found by its short prefix."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix} ({self.clinic})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Share(models.Model):
    """One exam's images for one patient, reached with link token + password."""

    class State(models.TextChoices):
        ACTIVE = "active", "active"
        REVOKED = "revoked", "revoked by the clinic"
        DELETED_BY_PATIENT = "deleted_by_patient", "deleted by the patient"
        EXPIRED = "expired", "expired"
        PURGED = "purged", "files removed"
        PURGE_FAILED = "purge_failed", "removing the files failed"

    # Why an ended share ended; kept when the state moves on to purged / purge_failed.
    ENDINGS = (State.REVOKED, State.DELETED_BY_PATIENT, State.EXPIRED)

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="shares")
    # Keyed hash of the link token (B1). Null once purged: a tombstone keeps no secrets.
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # Random salt the token was derived from (with the Idempotency-Key), so that a replay of
    # the same create request can be answered with the same URL. Cleared on purge.
    token_salt = models.CharField(max_length=64, blank=True)
    idempotency_key_hash = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    password_hash = models.CharField(max_length=255, blank=True)
    delete_code_hash = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.NL)
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    ended_reason = models.CharField(max_length=20, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Guessing limits (SECURITY C1, C2): consecutive failures (reset by a success), all
    # failures since the clinic last reset, the temporary lock, the hard lock.
    failed_password_count = models.PositiveIntegerField(default=0)
    total_failed_password_count = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    hard_locked = models.BooleanField(default=False)
    delete_code_failures = models.PositiveIntegerField(default=0)
    storage_dir = models.CharField(max_length=64, default=new_storage_dir, editable=False)
    purge_error = models.CharField(max_length=500, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    final_status_read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "idempotency_key_hash"], name="portal_share_idempotency"
            )
        ]
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self) -> str:
        return self.public_id

    def is_open(self, now: datetime | None = None) -> bool:
        """Active and not past its expiry (D1: checked on every access)."""
        now = now or timezone.now()
        return self.state == self.State.ACTIVE and now < self.expires_at

    def is_locked(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.hard_locked or (self.locked_until is not None and now < self.locked_until)

    @property
    def delete_disabled(self) -> bool:
        from echoshare.portal.guessing import DELETE_CODE_MAX_FAILURES

        return self.delete_code_failures >= DELETE_CODE_MAX_FAILURES

    def media_dir(self) -> Path:
        return Path(settings.PORTAL_MEDIA_DIR) / self.storage_dir


class ShareItem(models.Model):
    """A photo or clip of a share, with its thumbnail (and a clip's poster frame)."""

    class Kind(models.TextChoices):
        STILL = "still", "photo"
        CLIP = "clip", "clip"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    position = models.PositiveSmallIntegerField()
    file_name = models.CharField(max_length=40)  # generic: echo-01.jpg, echo-clip-01.mp4
    content_type = models.CharField(max_length=40)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    etag = models.CharField(max_length=80)
    # Paths relative to PORTAL_MEDIA_DIR, made by the server (random names).
    file_key = models.CharField(max_length=120)
    thumbnail_key = models.CharField(max_length=120, blank=True)
    poster_key = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["share", "position"], name="portal_item_position")
        ]

    def __str__(self) -> str:
        return f"{self.share_id}/{self.file_name}"

    def path(self) -> Path:
        return Path(settings.PORTAL_MEDIA_DIR) / self.file_key

    def thumbnail_path(self) -> Path | None:
        return Path(settings.PORTAL_MEDIA_DIR) / self.thumbnail_key if self.thumbnail_key else None

    def poster_path(self) -> Path | None:
        return Path(settings.PORTAL_MEDIA_DIR) / self.poster_key if self.poster_key else None

    def all_paths(self) -> list[Path]:
        paths = [self.path(), self.thumbnail_path(), self.poster_path()]
        return [p for p in paths if p is not None]


class ShareEvent(models.Model):
    """A pseudonymous thing that happened to a share, for the clinic to pull (cursor = id)."""

    class Kind(models.TextChoices):
        OPENED = "opened", "opened"
        PASSWORD_FAILED = "password_failed", "password failed"
        LOCKED = "locked", "locked"
        VIEWED = "viewed", "viewed"
        DOWNLOADED = "downloaded", "downloaded"
        ZIP_DOWNLOADED = "zip_downloaded", "zip downloaded"
        DELETED_BY_PATIENT = "deleted_by_patient", "deleted by the patient"
        REVOKED = "revoked", "revoked"
        EXPIRED = "expired", "expired"
        PURGED = "purged", "files removed"
        PURGE_FAILED = "purge_failed", "removing the files failed"

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="events")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="share_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    item = models.ForeignKey(ShareItem, null=True, blank=True, on_delete=models.SET_NULL)
    # The item's public id, kept when the item row is purged.
    item_public_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.created_at:%Y-%m-%d %H:%M}"


class RateCounter(models.Model):
    """Requests from one client address in one time window (SECURITY C3).

    The address is kept only as an HMAC under a key that changes every day, so the table
    cannot be turned back into addresses, nor linked across days.
    """

    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="portal_rate_window")
        ]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.key[:8]} {self.window_start:%H:%M} {self.count}"
