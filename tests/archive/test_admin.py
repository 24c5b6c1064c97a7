"""The archive in the admin: read-only studies (viewing is audited), and the two-person
destruction flow driven from the admin."""

from __future__ import annotations

import pytest

from echoshare.archive.models import DestructionRequest, Study
from echoshare.archive.services import instance_store
from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from tests.archive.conftest import DICOM_ORIGIN
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db

CHANGELIST = "/staff/admin/archive/destructionrequest/"


@pytest.fixture
def study(make_dicom) -> Study:
    return instance_store(path=make_dicom(PatientID="P77"), origin=DICOM_ORIGIN).instance.study


def test_viewing_a_study_is_audited(study):
    client = verified_client(*make_staff("sonja", "sonographer"))

    response = client.get(f"/staff/admin/archive/study/{study.pk}/change/")

    assert response.status_code == 200
    record = AuditRecord.objects.get(event=events.STUDY_VIEWED)
    assert (record.username, record.patient_ref) == ("sonja", "P77")


def test_front_desk_does_not_see_studies(study):
    client = verified_client(*make_staff("fred", "frontdesk"))
    assert client.get(f"/staff/admin/archive/study/{study.pk}/change/").status_code == 403


def test_one_staff_member_requests_and_another_approves_in_the_admin(study):
    sonja = verified_client(*make_staff("sonja", "sonographer"))
    admin = verified_client(*make_staff("adam", "administrator"))

    added = sonja.post(f"{CHANGELIST}add/", {"study": study.pk, "reason": "patient's letter"})
    assert added.status_code == 302, added.content
    request = DestructionRequest.objects.get()
    assert request.requested_by.username == "sonja"

    own = sonja.post(CHANGELIST, {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert own.status_code in (200, 302, 403)
    assert request.status == DestructionRequest.Status.REQUESTED  # sonja may not approve

    approved = admin.post(CHANGELIST, {"action": "approve", "_selected_action": [request.pk]})
    assert approved.status_code == 302
    request.refresh_from_db()
    assert request.status == DestructionRequest.Status.APPROVED
    assert request.approved_by.username == "adam"


def test_an_administrator_cannot_approve_their_own_request(study):
    admin = verified_client(*make_staff("adam", "administrator"))
    admin.post(f"{CHANGELIST}add/", {"study": study.pk, "reason": "patient's letter"})
    request = DestructionRequest.objects.get()

    admin.post(CHANGELIST, {"action": "approve", "_selected_action": [request.pk]}, follow=True)

    request.refresh_from_db()
    assert request.status == DestructionRequest.Status.REQUESTED
    assert AuditRecord.objects.get(event=events.ARCHIVE_DESTRUCTION_APPROVED).outcome == "denied"


def test_a_request_without_reason_is_a_form_error(study):
    sonja = verified_client(*make_staff("sonja", "sonographer"))
    response = sonja.post(f"{CHANGELIST}add/", {"study": study.pk, "reason": ""})
    assert response.status_code == 200
    assert not DestructionRequest.objects.exists()
