"""API authentication by bearer key, key revocation, and tenant isolation."""

from __future__ import annotations

import pytest
from django.test import Client

from echoshare.portal.models import ApiKey
from echoshare.portal.services import apikey_revoke
from tests.portal.conftest import Api

pytestmark = pytest.mark.django_db

SHARE_ROUTES = ["", "/events"]
SHARE_ACTIONS = ["extend", "revoke", "password", "reset-lockouts"]


def test_it_refuses_requests_without_a_key(client: Client) -> None:
    for path in ("/api/v1/events", "/api/v1/shares/abc"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/v1/shares").status_code == 401


def test_it_refuses_a_wrong_key_and_a_wrong_scheme(api: Api, client: Client) -> None:
    wrong = api.key[:-4] + "AAAA"
    for header in (f"Bearer {wrong}", f"Basic {api.key}", "Bearer esk_", "Bearer "):
        response = client.get("/api/v1/events", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    assert api.get("events").status_code == 200
    assert apikey_revoke(prefix=ApiKey.objects.get(clinic=api.clinic).prefix)
    assert api.get("events").status_code == 401


def test_keys_are_stored_only_as_keyed_hashes(api: Api) -> None:
    row = ApiKey.objects.get(clinic=api.clinic)
    assert api.key.startswith(f"esk_{row.prefix}_")
    assert len(api.key) >= 4 + 8 + 1 + 32  # 192 random bits after the prefix
    assert api.key not in str(ApiKey.objects.filter(pk=row.pk).values().get())
    assert len(row.key_hash) == 64


def test_a_clinic_reaches_only_its_own_shares(api: Api, other_api: Api) -> None:
    created = api.create(["still"])
    share_id = created.json()["id"]
    for suffix in SHARE_ROUTES:
        response = other_api.get(f"shares/{share_id}{suffix}")
        assert response.status_code == 404, suffix
        assert response.json()["error"] == "not_found"
    for action in SHARE_ACTIONS:
        assert other_api.post(f"shares/{share_id}/{action}", {}).status_code == 404, action
    assert other_api.get("events").json()["events"] == []
    assert api.get(f"shares/{share_id}").json()["state"] == "active"


def test_the_same_idempotency_key_in_two_clinics_makes_two_shares(api: Api, other_api: Api) -> None:
    key = "shared-key-0123456789"
    first = api.create(["still"], key=key)
    second = other_api.create(["still"], key=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["url"] != second.json()["url"]


def test_bursts_of_failed_logins_get_429_with_retry_after(client: Client, settings) -> None:
    settings.PORTAL_BURST_LIMIT = 3
    codes = [
        client.get("/api/v1/events", headers={"Authorization": "Bearer esk_nope_x"}).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    response = client.get("/api/v1/events", headers={"Authorization": "Bearer esk_nope_x"})
    assert 1 <= int(response["Retry-After"]) <= 60


def test_unknown_endpoints_and_methods_answer_json(api: Api) -> None:
    response = api.get("no-such-thing")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = api.client.delete("/api/v1/events", headers=api.headers())
    assert response.status_code == 405 and response["Allow"] == "GET"
