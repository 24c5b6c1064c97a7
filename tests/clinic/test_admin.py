"""Patients and appointments in the admin: adding, changing, opening and deleting are audited."""

from __future__ import annotations

import datetime as dt

import pytest

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import ApiToken, Appointment, Patient
from tests.clinic.staff import make_staff, verified_client

pytestmark = pytest.mark.django_db

PATIENT_FORM = {
    "patient_id": "P500",
    "family_name": "Jansen",
    "given_name": "Eva",
    "birth_date": "1988-11-02",
    "sex": "F",
    "phone": "06-12345678",
    "email": "eva@example.nl",
    "language": "nl",
}


@pytest.fixture
def frontdesk():
    user, device = make_staff("bert", "frontdesk")
    return user, verified_client(user, device)


def test_adding_a_patient_normalizes_the_phone_and_is_audited(frontdesk):
    user, client = frontdesk
    response = client.post("/staff/admin/clinic/patient/add/", PATIENT_FORM)
    assert response.status_code == 302
    assert Patient.objects.get().phone == "+31612345678"
    record = AuditRecord.objects.get(event=events.PATIENT_CREATED)
    assert (record.user, record.patient_ref, record.source) == (user, "P500", "web:admin")


def test_a_bad_phone_or_e_mail_is_refused_in_the_form(frontdesk):
    _, client = frontdesk
    response = client.post(
        "/staff/admin/clinic/patient/add/", dict(PATIENT_FORM, phone="06-1", email="eva@")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["phone"] == ["not a valid phone number"]
    assert "email" in errors
    assert not Patient.objects.exists()
    assert not AuditRecord.objects.filter(event=events.PATIENT_CREATED).exists()


def test_opening_and_changing_a_patient_are_audited(frontdesk):
    user, client = frontdesk
    client.post("/staff/admin/clinic/patient/add/", PATIENT_FORM)
    patient = Patient.objects.get()
    url = f"/staff/admin/clinic/patient/{patient.pk}/change/"
    assert client.get(url).status_code == 200
    viewed = AuditRecord.objects.get(event=events.PATIENT_VIEWED)
    assert (viewed.user, viewed.patient_ref) == (user, "P500")
    client.post(url, dict(PATIENT_FORM, email="eva.jansen@example.nl"))
    changed = AuditRecord.objects.get(event=events.PATIENT_CHANGED)
    assert changed.detail == "fields: email"


def test_an_appointment_added_in_the_admin_gets_an_accession_number_and_is_audited(frontdesk):
    user, client = frontdesk
    client.post("/staff/admin/clinic/patient/add/", PATIENT_FORM)
    patient = Patient.objects.get()
    response = client.post(
        "/staff/admin/clinic/appointment/add/",
        {
            "patient": patient.pk,
            "scheduled_at_0": "2026-07-01",
            "scheduled_at_1": "09:30",
            "exam_type": "Termijnecho",
            "modality": "US",
            "station_ae_title": "",
            "accession_number": "",
            "status": "booked",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    appointment = Appointment.objects.get()
    assert appointment.accession_number.startswith("ES")
    assert appointment.scheduled_at == dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC)
    record = AuditRecord.objects.get(event=events.APPOINTMENT_CREATED)
    assert record.object_ref == f"appointment {appointment.accession_number}"
    assert record.user == user


def test_an_administrator_makes_a_booking_token_in_the_admin_and_sees_it_once():
    user, device = make_staff("carla", "administrator")
    client = verified_client(user, device)
    response = client.post("/staff/admin/clinic/apitoken/add/", {"name": "HiX"}, follow=True)
    assert response.status_code == 200
    token = ApiToken.objects.get()
    messages = [str(m) for m in response.context["messages"]]
    assert any("esb_" in m and token.prefix in m for m in messages)
    assert AuditRecord.objects.get(event=events.API_TOKEN_CREATED).user == user
    assert client.get("/staff/admin/clinic/apitoken/").status_code == 200


def test_looking_at_the_patient_list_is_audited_with_the_search(frontdesk):
    user, client = frontdesk
    assert client.get("/staff/admin/clinic/patient/?q=P500").status_code == 200
    record = AuditRecord.objects.get(event=events.PATIENT_VIEWED)
    assert (record.user, record.object_ref, record.detail) == (user, "patient list", "q=P500")


def test_only_a_superuser_deletes_and_the_deletion_is_audited(frontdesk):
    from django.contrib.auth.models import User

    _, client = frontdesk
    client.post("/staff/admin/clinic/patient/add/", PATIENT_FORM)
    patient = Patient.objects.get()
    url = f"/staff/admin/clinic/patient/{patient.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 403
    root, device = make_staff("root", "administrator")
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    root.refresh_from_db()
    response = verified_client(root, device).post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Patient.objects.exists()
    deleted = AuditRecord.objects.get(event=events.PATIENT_DELETED)
    assert (deleted.user, deleted.patient_ref) == (root, "P500")
