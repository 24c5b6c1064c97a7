"""Device rules changed in the admin are audited: add, change and delete (one by one and the
"delete selected" action) each write one record naming the rule, its switch and rectangles,
never the note's text; saving without a change writes none."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_verify
from echoshare.imaging.models import DeviceRule
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db
ADMIN = "/staff/admin/imaging/devicerule/"
NOTE = "Echo room 2, Dr. Jansen\r\nFAKE"


@pytest.fixture
def superuser_and_device() -> tuple[User, TOTPDevice]:
    user, device = make_staff("root", "administrator")
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user, device


@pytest.fixture
def superuser(superuser_and_device: tuple[User, TOTPDevice]) -> User:
    return superuser_and_device[0]


@pytest.fixture
def client(superuser_and_device: tuple[User, TOTPDevice]) -> Client:
    return verified_client(*superuser_and_device)


def _form(**changes: Any) -> dict[str, Any]:
    data = {
        "manufacturer": "SonoSite, Inc.",
        "model_name": "Turbo",
        "columns": "320",
        "rows": "240",
        "keep": "[]",
        "blank": "[[0, 0, 319, 19]]",
        "crop": "[0, 20, 319, 239]",
        "note": NOTE,
        "active": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _records(event: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(event=event).order_by("seq"))


def _add(client: Client, **changes: Any) -> DeviceRule:
    response = client.post(ADMIN + "add/", _form(**changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    return DeviceRule.objects.latest("pk")


def test_adding_a_rule_is_audited_with_what_it_does(client: Client, superuser: User) -> None:
    rule = _add(client)
    [record] = _records(events.DEVICE_RULE_CREATED)
    assert (record.outcome, record.user, record.source) == ("success", superuser, "web:admin")
    assert record.object_ref == f"device rule #{rule.pk} SonoSite, Inc. Turbo 320x240"
    assert record.detail == (
        "device SonoSite, Inc. Turbo 320x240; active on; crop [0, 20, 319, 239]; keep []; "
        "blank [[0, 0, 319, 19]]; note set"
    )
    assert record.patient_ref == ""
    assert "Jansen" not in record.detail + record.object_ref
    assert rule.created_by == superuser


def test_changing_a_rule_records_what_changed(client: Client) -> None:
    rule = _add(client)
    response = client.post(
        f"{ADMIN}{rule.pk}/change/",
        _form(active=None, crop="[10, 30, 309, 229]", note="new note"),
    )
    assert response.status_code == 302
    [record] = _records(events.DEVICE_RULE_CHANGED)
    assert record.detail == (
        "active: on -> off; crop: [0, 20, 319, 239] -> [10, 30, 309, 229]; note changed"
    )
    assert record.object_ref == f"device rule #{rule.pk} SonoSite, Inc. Turbo 320x240"


def test_saving_a_rule_unchanged_writes_no_record(client: Client) -> None:
    rule = _add(client)
    response = client.post(f"{ADMIN}{rule.pk}/change/", _form())
    assert response.status_code == 302
    assert _records(events.DEVICE_RULE_CHANGED) == []


def test_a_refused_form_writes_no_record(client: Client) -> None:
    response = client.post(ADMIN + "add/", _form(crop="[0, 0, 320, 10]"))
    assert response.status_code == 200  # the form again, with the error
    # The admin speaks the clinic's language (Dutch by default).
    assert "valt niet binnen het beeld van 320x240" in response.content.decode()
    assert _records(events.DEVICE_RULE_CREATED) == []


def test_deleting_a_rule_is_audited_with_its_last_state(client: Client) -> None:
    rule = _add(client)
    rule_pk = rule.pk
    response = client.post(f"{ADMIN}{rule_pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not DeviceRule.objects.filter(pk=rule_pk).exists()
    [record] = _records(events.DEVICE_RULE_DELETED)
    assert record.object_ref == f"device rule #{rule_pk} SonoSite, Inc. Turbo 320x240"
    assert "active on; crop [0, 20, 319, 239]" in record.detail


def test_delete_selected_writes_one_record_per_rule(client: Client) -> None:
    first = _add(client)
    second = _add(client, model_name="Turbo II", active=None)
    response = client.post(
        ADMIN,
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    records = _records(events.DEVICE_RULE_DELETED)
    assert len(records) == 2
    assert {r.object_ref for r in records} == {
        f"device rule #{first.pk} SonoSite, Inc. Turbo 320x240",
        f"device rule #{second.pk} SonoSite, Inc. Turbo II 320x240",
    }
    assert audit_verify().ok


def test_control_characters_in_a_rule_are_escaped(client: Client) -> None:
    _add(client, model_name="Turbo\x1b[2J")
    [record] = _records(events.DEVICE_RULE_CREATED)
    assert "Turbo\\x1b[2J" in record.object_ref
    assert "\x1b" not in record.detail + record.object_ref
