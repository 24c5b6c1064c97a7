"""The audit log (NEN 7513): append-only records, hash-chained so that tampering shows (G3).

Each record stores the hash of the record before it and its own hash over a canonical
serialization (`canonical_payload`). The single `AuditChainHead` row holds the sequence
number and hash of the newest record; appenders lock it, so concurrent appends line up.
The application can only add records: saving an existing record, deleting one and queryset
update/delete all raise `AuditAppendOnlyError`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AuditAppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit record through the application."""


class AuditRecordQuerySet(models.QuerySet["AuditRecord"]):
    def update(self, **kwargs: Any) -> int:
        raise AuditAppendOnlyError("audit records cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditAppendOnlyError("audit records cannot be deleted")

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[AuditRecord]:  # type: ignore[override]
        raise AuditAppendOnlyError("audit records are added one at a time by audit_record()")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        raise AuditAppendOnlyError("audit records cannot be updated")

    def for_patient(self, patient_ref: str) -> AuditRecordQuerySet:
        return self.filter(patient_ref=patient_ref)


class AuditRecord(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(db_index=True, editable=False)  # UTC
    event = models.CharField(max_length=64, db_index=True, editable=False)
    outcome = models.CharField(max_length=16, editable=False)
    # PROTECT: a staff account with audit records is deactivated, never deleted. The user
    # name is kept as text as well, so the record reads the same whatever happens later.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    username = models.CharField(max_length=150, blank=True, editable=False)
    responsible_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    responsible_username = models.CharField(max_length=150, blank=True, editable=False)
    # Text, not a foreign key: the record must outlive the patient's data (destruction).
    patient_ref = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    object_ref = models.CharField(max_length=255, blank=True, editable=False)
    detail = models.TextField(blank=True, editable=False)
    source = models.CharField(max_length=255, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    record_hash = models.CharField(max_length=64, editable=False)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")

    def __str__(self) -> str:
        return f"#{self.seq} {self.at:%Y-%m-%d %H:%M:%S} {self.event} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditAppendOnlyError("audit records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditAppendOnlyError("audit records cannot be deleted")

    def canonical_payload(self) -> bytes:
        """The bytes the record hash covers: every field but the hash itself."""
        payload = {
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "event": self.event,
            "outcome": self.outcome,
            "user_id": self.user_id,
            "username": self.username,
            "responsible_user_id": self.responsible_user_id,
            "responsible_username": self.responsible_username,
            "patient_ref": self.patient_ref,
            "object_ref": self.object_ref,
            "detail": self.detail,
            "source": self.source,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_payload()).hexdigest()


class AuditChainHead(models.Model):
    """One row (pk=1): the newest record's sequence number and hash; the append lock."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"audit chain head #{self.last_seq}"
