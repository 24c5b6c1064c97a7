"""The booking system's JSON API: token auth, validation, idempotency per accession number."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import ApiToken, Appointment, Patient
from echoshare.clinic.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

URL = "/staff/api/v1/appointments"


@pytest.fixture
def token() -> str:
    return api_token_create(name="HiX")[1]


def _booking(**changes):
    body = {
        "patient": {
            "patient_id": "P100",
            "family_name": "de Vries",
            "given_name": "Anna",
            "birth_date": "1990-03-14",
            "phone": "06 1234 5678",
            "email": "anna@example.nl",
            "language": "en",
            "consent_sms": True,
            "consent_email": False,
        },
        "scheduled_at": "2026-07-01T09:30",
        "exam_type": "20-weken echo",
        "station_ae_title": "VOLUSON1",
        "accession_number": "HIX123",
    }
    body.update(changes)
    return body


def _post(token: str | None, body, url: str = URL, **headers):
    if token:
        headers.setdefault("authorization", f"Bearer {token}")
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client(enforce_csrf_checks=True).post(
        url, data, content_type=headers.pop("content_type", "application/json"), headers=headers
    )


def _get(token: str, url: str):
    return Client().get(url, headers={"authorization": f"Bearer {token}"})


class TestAuth:
    def test_without_a_token_it_answers_401(self):
        response = _post(None, _booking())
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert not Appointment.objects.exists()

    def test_a_wrong_or_revoked_token_answers_401(self, token):
        assert _post("esb_wrong", _booking()).status_code == 401
        api_token_revoke(token=ApiToken.objects.get())
        assert _post(token, _booking()).status_code == 401

    def test_only_the_keyed_hash_of_the_token_is_stored(self, token):
        stored = ApiToken.objects.get()
        assert token not in (stored.token_hash, stored.prefix, stored.name)
        assert len(stored.token_hash) == 64

    def test_a_staff_session_is_not_a_token(self):
        from tests.clinic.staff import make_staff, verified_client

        client = verified_client(*make_staff("carla", "administrator"))
        response = client.post(URL, json.dumps(_booking()), content_type="application/json")
        assert response.status_code == 401


class TestCreate:
    def test_it_books_the_appointment_with_a_preassigned_study_uid(self, token):
        response = _post(token, _booking())
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["result"] == "created"
        appointment = Appointment.objects.get(accession_number="HIX123")
        assert body["appointment"]["study_instance_uid"] == appointment.study_instance_uid
        assert appointment.study_instance_uid.startswith("2.25.")
        assert appointment.scheduled_at == dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC)
        assert Patient.objects.get().phone == "+31612345678"
        assert ApiToken.objects.get().last_used_at is not None

    def test_it_audits_the_patient_and_the_appointment(self, token):
        _post(token, _booking())
        created = AuditRecord.objects.get(event=events.APPOINTMENT_CREATED)
        assert created.patient_ref == "P100"
        assert created.source.startswith("api:HiX@")
        assert AuditRecord.objects.filter(event=events.PATIENT_CREATED).count() == 1

    def test_without_an_accession_number_one_is_generated(self, token):
        response = _post(token, _booking(accession_number=""))
        accession = response.json()["appointment"]["accession_number"]
        assert response.status_code == 201
        assert 1 <= len(accession) <= 16
        assert Appointment.objects.filter(accession_number=accession).exists()


class TestIdempotency:
    def test_the_same_booking_twice_is_one_appointment(self, token):
        first = _post(token, _booking())
        second = _post(token, _booking())
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.json()["result"] == "unchanged"
        assert Appointment.objects.count() == 1
        assert AuditRecord.objects.filter(event=events.APPOINTMENT_CREATED).count() == 1
        assert not AuditRecord.objects.filter(event=events.APPOINTMENT_CHANGED).exists()
        assert first.json()["appointment"] == second.json()["appointment"]

    def test_a_changed_booking_with_the_same_accession_changes_it(self, token):
        uid = _post(token, _booking()).json()["appointment"]["study_instance_uid"]
        response = _post(token, _booking(scheduled_at="2026-07-02T11:00+02:00"))
        assert response.status_code == 200
        assert response.json()["result"] == "changed"
        appointment = Appointment.objects.get()
        assert appointment.scheduled_at == dt.datetime(2026, 7, 2, 9, 0, tzinfo=dt.UTC)
        assert appointment.study_instance_uid == uid
        changed = AuditRecord.objects.get(event=events.APPOINTMENT_CHANGED)
        assert changed.detail == "fields: scheduled_at"

    def test_an_accession_number_of_another_patient_is_a_conflict(self, token):
        _post(token, _booking())
        other = _booking()
        other["patient"] = dict(other["patient"], patient_id="P200")
        response = _post(token, other)
        assert response.status_code == 409
        assert not Patient.objects.filter(patient_id="P200").exists()


class TestValidation:
    def test_bad_fields_are_named_in_a_400(self, token):
        body = _booking(scheduled_at="tomorrow", exam_type="")
        body["patient"]["phone"] = "06-123"
        body["patient"]["email"] = "anna@"
        response = _post(token, body)
        assert response.status_code == 400
        fields = response.json()["fields"]
        assert set(fields) == {
            "patient.phone",
            "patient.email",
            "scheduled_at",
            "exam_type",
        }
        assert not Patient.objects.exists()

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ("{not json", 400),
            ("[1, 2]", 400),
            (json.dumps({"exam_type": "x"}), 400),
            (json.dumps(_booking(patient="P100")), 400),
            (json.dumps(_booking(exam_type=["x"])), 400),
            (json.dumps(_booking(accession_number="A" * 17)), 400),
            (json.dumps(_booking(accession_number="A\\B")), 400),
            (b"\xff\xfe", 400),
        ],
    )
    def test_malformed_bodies_get_a_clear_4xx(self, token, body, status):
        response = _post(token, body)
        assert response.status_code == status
        assert "error" in response.json()

    def test_other_content_types_get_415_and_big_bodies_413(self, token):
        assert (
            _post(token, "a=b", content_type="application/x-www-form-urlencoded").status_code == 415
        )
        huge = _booking(exam_type="x" * 70_000)
        assert _post(token, huge).status_code == 413

    def test_a_get_on_the_collection_is_405(self, token):
        assert _get(token, URL).status_code == 405


class TestReadAndCancel:
    def test_it_reads_an_appointment_by_accession_number(self, token):
        _post(token, _booking())
        response = _get(token, f"{URL}/HIX123")
        assert response.status_code == 200
        assert response.json()["appointment"]["status"] == "booked"
        viewed = AuditRecord.objects.get(event=events.APPOINTMENT_VIEWED)
        assert (viewed.patient_ref, viewed.source[:8]) == ("P100", "api:HiX@")
        assert _get(token, f"{URL}/NOPE").status_code == 404

    def test_cancel_is_audited_and_idempotent(self, token):
        _post(token, _booking())
        first = _post(token, {}, url=f"{URL}/HIX123/cancel")
        second = _post(token, {}, url=f"{URL}/HIX123/cancel")
        assert (first.json()["result"], second.json()["result"]) == ("cancelled", "unchanged")
        assert Appointment.objects.get().status == "cancelled"
        assert AuditRecord.objects.filter(event=events.APPOINTMENT_CANCELLED).count() == 1
        assert _post(token, _booking()).status_code == 409

    def test_cancel_of_an_unknown_or_examined_appointment_is_refused(self, token):
        assert _post(token, {}, url=f"{URL}/NOPE/cancel").status_code == 404
        _post(token, _booking())
        Appointment.objects.update(status="examined")
        assert _post(token, {}, url=f"{URL}/HIX123/cancel").status_code == 409
        assert _get(token, f"{URL}/HIX123/cancel").status_code == 405

    def test_a_first_image_arriving_during_a_cancel_wins(self, token, monkeypatch):
        from echoshare.clinic import api

        _post(token, _booking())
        stale = Appointment.objects.get()  # read as booked ...
        Appointment.objects.update(status="examined")  # ... then the first image arrived
        monkeypatch.setattr(api, "_find", lambda accession_number: stale)
        assert _post(token, {}, url=f"{URL}/HIX123/cancel").status_code == 409
        assert Appointment.objects.get().status == "examined"
        assert not AuditRecord.objects.filter(event=events.APPOINTMENT_CANCELLED).exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_posts_of_one_booking_make_one_appointment():
    import threading

    from django.db import connection

    plaintext = api_token_create(name="HiX")[1]
    statuses: list[int] = []
    start = threading.Barrier(4)

    def post() -> None:
        try:
            start.wait()
            statuses.append(_post(plaintext, _booking()).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert Appointment.objects.count() == 1
    assert Patient.objects.count() == 1
    assert AuditRecord.objects.filter(event=events.APPOINTMENT_CREATED).count() == 1
