"""audit_record: one record per call, escaped values, append-only, hash chain (G1, G3, G4)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection, transaction

from echoshare.audit import events
from echoshare.audit.models import GENESIS_HASH, AuditAppendOnlyError, AuditRecord
from echoshare.audit.services import audit_record, audit_verify

pytestmark = pytest.mark.django_db


def test_it_writes_one_record_with_utc_time_event_patient_user_and_outcome():
    user = User.objects.create_user("anna")
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC), tick=False):
        record = audit_record(
            event=events.STUDY_VIEWED, user=user, patient_ref="P123", source="web"
        )
    assert AuditRecord.objects.count() == 1
    stored = AuditRecord.objects.get()
    assert stored.pk == record.pk
    assert stored.at == dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    assert stored.at.utcoffset() == dt.timedelta(0)
    assert (stored.event, stored.outcome) == ("study.viewed", "success")
    assert (stored.user, stored.username, stored.patient_ref) == (user, "anna", "P123")


def test_it_refuses_an_unknown_event_or_outcome():
    with pytest.raises(ValueError, match="unknown audit event"):
        audit_record(event="study.veiwed")
    with pytest.raises(ValueError, match="unknown audit outcome"):
        audit_record(event=events.LOGIN, outcome="maybe")
    assert AuditRecord.objects.count() == 0


def test_it_escapes_cr_lf_and_control_characters():
    record = audit_record(
        event=events.IMAGE_STORED,
        patient_ref="P1\r\nFAKE",
        detail="a\x00b\x1bc\x7fd\u2028e\\n",
        source="dicom:EVIL\nAE@127.0.0.1",
    )
    record.refresh_from_db()
    assert record.patient_ref == "P1\\r\\nFAKE"
    assert record.detail == "a\\x00b\\x1bc\\x7fd\\u2028e\\\\n"
    assert record.source == "dicom:EVIL\\nAE@127.0.0.1"
    for value in (record.patient_ref, record.detail, record.source):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)


def test_it_cuts_an_overlong_value_to_the_column_instead_of_failing():
    record = audit_record(event=events.IMAGE_STORED, object_ref="x" * 1000)
    record.refresh_from_db()
    assert len(record.object_ref) == 255
    assert record.object_ref.endswith("…")


def test_it_records_anonymous_users_as_no_user():
    from django.contrib.auth.models import AnonymousUser

    record = audit_record(event=events.LOGIN_FAILED, outcome="failure", user=AnonymousUser())
    assert record.user is None
    assert record.username == ""


def test_it_chains_each_record_to_the_one_before():
    first = audit_record(event=events.LOGIN)
    second = audit_record(event=events.LOGOUT)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.record_hash
    assert (first.seq, second.seq) == (1, 2)
    assert audit_verify().ok


def test_it_is_rolled_back_with_the_transaction_it_records():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(event=events.PATIENT_CHANGED, patient_ref="P9")
        raise RuntimeError("the change failed")
    assert AuditRecord.objects.count() == 0
    audit_record(event=events.PATIENT_CHANGED, patient_ref="P9")
    report = audit_verify()
    assert report.ok
    assert report.checked == 1


class TestAppendOnly:
    def test_saving_an_existing_record_is_refused(self):
        record = audit_record(event=events.LOGIN)
        record.detail = "changed"
        with pytest.raises(AuditAppendOnlyError):
            record.save()

    def test_deleting_a_record_is_refused(self):
        record = audit_record(event=events.LOGIN)
        with pytest.raises(AuditAppendOnlyError):
            record.delete()
        assert AuditRecord.objects.filter(pk=record.pk).exists()

    def test_queryset_update_and_delete_are_refused(self):
        audit_record(event=events.LOGIN)
        with pytest.raises(AuditAppendOnlyError):
            AuditRecord.objects.update(detail="x")
        with pytest.raises(AuditAppendOnlyError):
            AuditRecord.objects.all().delete()
        with pytest.raises(AuditAppendOnlyError):
            AuditRecord.objects.bulk_create([AuditRecord(seq=99)])
        assert AuditRecord.objects.get().detail == ""


class TestTamperDetection:
    def _three_records(self) -> list[AuditRecord]:
        return [
            audit_record(event=events.STUDY_VIEWED, patient_ref=f"P{i}", detail=f"look {i}")
            for i in range(1, 4)
        ]

    def _sql(self, statement: str, params: list[object]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)

    def test_a_changed_row_is_found_at_its_sequence_number(self):
        records = self._three_records()
        self._sql(
            "UPDATE audit_auditrecord SET patient_ref = %s WHERE id = %s", ["P999", records[1].pk]
        )
        report = audit_verify()
        assert not report.ok
        assert report.broken_seq == 2
        assert report.checked == 1
        assert "changed" in report.reason

    def test_a_deleted_row_in_the_middle_is_found(self):
        records = self._three_records()
        self._sql("DELETE FROM audit_auditrecord WHERE id = %s", [records[1].pk])
        report = audit_verify()
        assert (report.ok, report.broken_seq) == (False, 2)

    def test_a_deleted_last_row_is_found_through_the_chain_head(self):
        records = self._three_records()
        self._sql("DELETE FROM audit_auditrecord WHERE id = %s", [records[2].pk])
        report = audit_verify()
        assert (report.ok, report.broken_seq) == (False, 3)

    def test_a_rehashed_row_breaks_the_link_to_the_next(self):
        records = self._three_records()
        forged = AuditRecord.objects.get(pk=records[0].pk)
        forged.detail = "forged"
        forged.record_hash = forged.compute_hash()
        self._sql(
            "UPDATE audit_auditrecord SET detail = %s, record_hash = %s WHERE id = %s",
            ["forged", forged.record_hash, forged.pk],
        )
        report = audit_verify()
        assert (report.ok, report.broken_seq) == (False, 2)

    def test_an_untouched_chain_verifies(self):
        self._three_records()
        report = audit_verify()
        assert report.ok
        assert report.checked == 3
