"""No request answers 500: random bodies, cursors and ids get a JSON 4xx (or a 2xx)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.portal.conftest import Api

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(["months", "expires_at", "password_hash", "x"]), json_values, max_size=3
    ),
    json_values.map(lambda value: {"expires_at": value}),
)
SLOW_OK = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def share_id(api: Api) -> str:
    return api.create(["still"]).json()["id"]


@SLOW_OK
@given(action=st.sampled_from(["extend", "password", "reset-lockouts"]), body=bodies)
def test_actions_never_answer_500(api: Api, share_id: str, action: str, body: dict) -> None:
    response = api.post(f"shares/{share_id}/{action}", body)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "detail"}


@SLOW_OK
@given(raw=st.binary(max_size=200))
def test_raw_bodies_never_answer_500(api: Api, share_id: str, raw: bytes) -> None:
    response = api.client.post(
        f"/api/v1/shares/{share_id}/extend",
        raw,
        content_type="application/json",
        headers=api.headers(),
    )
    assert 400 <= response.status_code < 500


@SLOW_OK
@given(after=st.text(max_size=25), limit=st.text(max_size=5), share=st.text(max_size=40))
def test_cursors_and_ids_never_answer_500(api: Api, after: str, limit: str, share: str) -> None:
    assert api.get("events", after=after, limit=limit).status_code < 500
    assert api.get(f"shares/{share}", after=after).status_code < 500


def test_a_deeply_nested_body_is_a_400(api: Api, share_id: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = api.client.post(
        f"/api/v1/shares/{share_id}/extend",
        deep,
        content_type="application/json",
        headers=api.headers(),
    )
    assert response.status_code == 400
    manifest_deep = api.create(manifest={"items": json.loads("[" * 50 + "]" * 50)})
    assert manifest_deep.status_code == 400
    huge_cursor = api.get("events", after=str(2**70))
    assert (huge_cursor.status_code, huge_cursor.json()["error"]) == (400, "invalid_cursor")
