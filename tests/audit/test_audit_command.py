"""`echoshare audit verify` reports an intact chain and the first broken link."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_it_reports_an_intact_chain_and_records_that_it_ran():
    audit_record(event=events.LOGIN)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "audit chain intact: 1 records" in out.getvalue()
    assert AuditRecord.objects.filter(event=events.AUDIT_VERIFIED, outcome="success").count() == 1


def test_it_fails_naming_the_first_changed_record():
    for _ in range(4):
        audit_record(event=events.LOGIN)
    third = AuditRecord.objects.get(seq=3)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditrecord SET event = 'staff.logout' WHERE id = %s", [third.pk]
        )
    with pytest.raises(CommandError, match=r"broken at record #3") as excinfo:
        call_command("audit", "verify", stdout=StringIO())
    assert excinfo.value.returncode == 1
    assert AuditRecord.objects.filter(event=events.AUDIT_VERIFIED, outcome="failure").count() == 1
