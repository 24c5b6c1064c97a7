"""Writing and verifying the audit log. Other apps call `audit_record` only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from echoshare.audit import events
from echoshare.audit.escaping import escape_control, fit
from echoshare.audit.models import GENESIS_HASH, AuditChainHead, AuditRecord

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _account(user: Any) -> tuple[Any, str]:
    """(user or None, user name) for a User, an AnonymousUser or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None, ""
    return user, user.get_username()


def _text(value: str, field: str) -> str:
    escaped = escape_control(str(value))
    max_length = getattr(AuditRecord._meta.get_field(field), "max_length", None)
    return fit(escaped, max_length) if max_length else escaped


def _locked_head() -> AuditChainHead:
    try:
        return AuditChainHead.objects.select_for_update().get(pk=1)
    except AuditChainHead.DoesNotExist:
        pass
    try:
        with transaction.atomic():  # savepoint: a parallel first append may win the insert
            AuditChainHead.objects.create(pk=1)
    except IntegrityError:
        pass
    return AuditChainHead.objects.select_for_update().get(pk=1)


def audit_record(
    *,
    event: str,
    outcome: str = "success",
    user: User | None = None,
    responsible_user: User | None = None,
    patient_ref: str = "",
    object_ref: str = "",
    detail: str = "",
    source: str = "",
) -> AuditRecord:
    """Append one record to the audit log and return it.

    Call it inside the transaction of the change it records, so that both are committed or
    neither is. `patient_ref` is the patient ID as text; `source` says where the action came
    from ("web", "cli", "api", "dicom:CALLING_AE@address"). Values are escaped (G4).
    """
    if event not in events.ALL_EVENTS:
        raise ValueError(f"unknown audit event {event!r}: add it to echoshare/audit/events.py")
    if outcome not in events.OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    actor, username = _account(user)
    responsible, responsible_username = _account(responsible_user)
    # No savepoint inside the caller's transaction: the record and the change it records
    # stand or fall together anyway, and each saved statement is latency on every C-STORE.
    with transaction.atomic(savepoint=False):
        # The lock on the head row serializes appenders (PostgreSQL); SQLite's IMMEDIATE
        # transactions already hold the database's write lock here.
        head = _locked_head()
        record = AuditRecord(
            seq=head.last_seq + 1,
            at=timezone.now(),
            event=event,
            outcome=outcome,
            user=actor,
            username=_text(username, "username"),
            responsible_user=responsible,
            responsible_username=_text(responsible_username, "responsible_username"),
            patient_ref=_text(patient_ref, "patient_ref"),
            object_ref=_text(object_ref, "object_ref"),
            detail=_text(detail, "detail"),
            source=_text(source, "source"),
            prev_hash=head.last_hash,
        )
        record.record_hash = record.compute_hash()
        record.save()
        head.last_seq = record.seq
        head.last_hash = record.record_hash
        head.save(update_fields=["last_seq", "last_hash"])
    return record


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def audit_verify() -> ChainReport:
    """Walk the chain from the first record; report the first link that does not hold."""
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    for record in AuditRecord.objects.order_by("seq").iterator(chunk_size=2000):
        if record.seq != expected_seq:
            return ChainReport(checked, expected_seq, f"record #{expected_seq} is missing")
        if record.prev_hash != expected_prev:
            return ChainReport(
                checked, record.seq, "previous-record hash does not match the record before"
            )
        if record.compute_hash() != record.record_hash:
            return ChainReport(checked, record.seq, "record was changed after it was written")
        expected_seq, expected_prev, checked = record.seq + 1, record.record_hash, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first() or AuditChainHead()
    if head.last_seq != expected_seq - 1 or head.last_hash != expected_prev:
        return ChainReport(
            checked, expected_seq, f"records after #{expected_seq - 1} are missing (chain head)"
        )
    return ChainReport(checked)
