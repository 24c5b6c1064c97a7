"""Every permission listed in docs/roles.md, for a member of each role, and the gates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_record
from echoshare.clinic.roles import ROLE_PERMISSIONS, ROLES, roles_sync
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db

ROLES_DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
_ROW = re.compile(r"^\| `([a-z_]+\.[a-z_]+)` \|[^|]+\| (yes|no) \| (yes|no) \| (yes|no) \|$")


def documented_permissions() -> dict[str, dict[str, bool]]:
    table: dict[str, dict[str, bool]] = {}
    for line in ROLES_DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            permission, *cells = match.groups()
            table[permission] = {
                role: cell == "yes"
                for role, cell in zip(
                    ("sonographer", "frontdesk", "administrator"), cells, strict=True
                )
            }
    return table


DOCUMENTED = documented_permissions()
CASES = [(perm, role, allowed) for perm, row in DOCUMENTED.items() for role, allowed in row.items()]


def test_the_document_lists_every_permission_a_role_holds():
    assert len(DOCUMENTED) >= 20
    held = set().union(*ROLE_PERMISSIONS.values())
    assert held == set(DOCUMENTED)


@pytest.fixture
def members():
    return {role: make_staff(f"user-{role}", role)[0] for role in ROLES}


@pytest.mark.parametrize(
    ("permission", "role", "allowed"), CASES, ids=[f"{p}-{r}" for p, r, _ in CASES]
)
def test_each_role_holds_exactly_the_documented_permissions(members, permission, role, allowed):
    assert members[role].has_perm(permission) is allowed


def test_a_role_loses_a_permission_it_no_longer_lists(members):
    from django.contrib.auth.models import Permission

    group = Group.objects.get(name="frontdesk")
    group.permissions.add(Permission.objects.get(codename="view_auditrecord"))
    roles_sync()
    assert not group.permissions.filter(codename="view_auditrecord").exists()


class TestAuditLogInTheAdmin:
    def test_frontdesk_may_not_open_the_audit_log(self):
        client = verified_client(*make_staff("bert", "frontdesk"))
        assert client.get("/staff/admin/audit/auditrecord/").status_code == 403
        assert not AuditRecord.objects.filter(event=events.AUDIT_VIEWED).exists()

    def test_an_administrator_sees_it_read_only_and_the_look_is_audited(self):
        user, device = make_staff("carla", "administrator")
        record = audit_record(event=events.STUDY_VIEWED, patient_ref="P77")
        client = verified_client(user, device)
        listing = client.get("/staff/admin/audit/auditrecord/?q=P77")
        assert listing.status_code == 200
        assert b"P77" in listing.content
        viewed = AuditRecord.objects.filter(event=events.AUDIT_VIEWED).order_by("seq")
        assert viewed.count() == 1
        assert viewed[0].user == user
        assert "q=P77" in viewed[0].detail
        detail = client.get(f"/staff/admin/audit/auditrecord/{record.pk}/change/")
        assert detail.status_code == 200
        assert viewed.count() == 2
        assert viewed.last().patient_ref == "P77"
        assert b'name="_save"' not in detail.content
        delete = client.post(f"/staff/admin/audit/auditrecord/{record.pk}/delete/", {"post": "yes"})
        assert delete.status_code == 403
        assert client.get("/staff/admin/audit/auditrecord/add/").status_code == 403
        assert AuditRecord.objects.filter(pk=record.pk).exists()


def test_a_sonographer_can_view_but_not_add_patients_in_the_admin():
    client = verified_client(*make_staff("anna", "sonographer"))
    assert client.get("/staff/admin/clinic/patient/").status_code == 200
    assert client.get("/staff/admin/clinic/patient/add/").status_code == 403
