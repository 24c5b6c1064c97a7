"""The API's state changes (extend, revoke, password, reset) and the events feeds."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from echoshare.portal.api import EVENT_SETTLE
from echoshare.portal.models import Share, ShareItem
from echoshare.portal.services import event_record, share_check_password, share_find
from tests.portal.conftest import PASSWORD, Api
from tests.portal.factories import cheap_argon2_hash

pytestmark = pytest.mark.django_db


@pytest.fixture
def created(api: Api) -> tuple[str, str]:
    """A share made through the API: (public id, token)."""
    body = api.create(["still", "clip"]).json()
    return body["id"], body["url"].rsplit("/s/", 1)[1]


def _share(share_id: str) -> Share:
    return Share.objects.get(public_id=share_id)


def _settled(api: Api, path: str, **params) -> dict:
    with time_machine.travel(timezone.now() + EVENT_SETTLE + timedelta(seconds=1)):
        return api.get(path, **params).json()


def test_status_reports_the_share(api: Api, created) -> None:
    share_id, _ = created
    body = api.get(f"shares/{share_id}").json()
    assert body["state"] == "active" and body["open"] is True
    assert [item["kind"] for item in body["items"]] == ["still", "clip"]
    assert body["locked"] is False and body["delete_code_disabled"] is False


def test_extend_moves_the_expiry(api: Api, created) -> None:
    share_id, token = created
    before = _share(share_id).expires_at
    response = api.post(f"shares/{share_id}/extend", {"months": 1})
    assert response.status_code == 200
    assert _share(share_id).expires_at > before + timedelta(days=27)
    new_expiry = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    response = api.post(f"shares/{share_id}/extend", {"expires_at": new_expiry.isoformat()})
    assert response.status_code == 200 and _share(share_id).expires_at == new_expiry
    assert share_find(token=token) is not None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"months": 0},
        {"months": 25},
        {"months": True},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"expires_at": "2030-01-01T00:00:00"},
        {"expires_at": "2099-01-01T00:00:00Z"},
        {"months": 1, "expires_at": "2030-01-01T00:00:00Z"},
    ],
)
def test_extend_refuses_bad_values(api: Api, created, body) -> None:
    share_id, _ = created
    before = _share(share_id).expires_at
    assert api.post(f"shares/{share_id}/extend", body).status_code == 400
    assert _share(share_id).expires_at == before


def test_extend_refuses_an_ended_or_expired_share(api: Api, created) -> None:
    share_id, _ = created
    with time_machine.travel(_share(share_id).expires_at + timedelta(seconds=1)):
        response = api.post(f"shares/{share_id}/extend", {"months": 1})
    assert (response.status_code, response.json()["error"]) == (409, "share_ended")


def test_revoke_ends_access_at_once_and_queues_the_file_removal(
    api: Api, created, django_capture_on_commit_callbacks
) -> None:
    share_id, token = created
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"shares/{share_id}/revoke")
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    assert share_find(token=token) is None
    job = DBTaskResult.objects.get(task_path="echoshare.portal.tasks.share_purge_task")
    assert job.args_kwargs["args"] == [_share(share_id).pk]
    # Revoking again is harmless.
    assert api.post(f"shares/{share_id}/revoke").json()["state"] == "revoked"
    assert DBTaskResult.objects.count() == 1


def test_the_queued_removal_purges_and_status_shows_it(api: Api, created, settings) -> None:
    from echoshare.portal.tasks import share_purge_task

    share_id, _ = created
    api.post(f"shares/{share_id}/revoke")
    assert share_purge_task.call(_share(share_id).pk) == "purged"
    body = api.get(f"shares/{share_id}").json()
    assert body["state"] == "purged" and body["ended_reason"] == "revoked"
    assert body["items"] == [] and ShareItem.objects.count() == 0
    assert [p for p in settings.PORTAL_MEDIA_DIR.rglob("*") if p.is_file()] == []


def test_replace_password_takes_a_new_hash_and_clears_the_locks(api: Api, created) -> None:
    share_id, token = created
    share = share_find(token=token)
    for _ in range(10):
        share_check_password(share=share, password="wrong")
    assert api.get(f"shares/{share_id}").json()["locked"] is True
    new_hash = cheap_argon2_hash("Nw8pRt5Z")
    response = api.post(f"shares/{share_id}/password", {"password_hash": new_hash})
    assert response.status_code == 200 and response.json()["locked"] is False
    share = share_find(token=token)
    assert share_check_password(share=share, password="Nw8pRt5Z").ok
    assert not share_check_password(share=share, password=PASSWORD).ok


def test_replace_password_refuses_a_plaintext(api: Api, created) -> None:
    share_id, _ = created
    response = api.post(f"shares/{share_id}/password", {"password_hash": "Nw8pRt5Z"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_hash")
    assert api.post(f"shares/{share_id}/password", {"x": 1}).status_code == 400
    bad_json = api.client.post(
        f"/api/v1/shares/{share_id}/password",
        "{not json",
        content_type="application/json",
        headers=api.headers(),
    )
    assert (bad_json.status_code, bad_json.json()["error"]) == (400, "invalid_json")


def test_reset_lockouts_lifts_the_hard_lock_and_reenables_delete(api: Api, created) -> None:
    share_id, _ = created
    Share.objects.filter(public_id=share_id).update(
        hard_locked=True, total_failed_password_count=50, delete_code_failures=5
    )
    before = api.get(f"shares/{share_id}").json()
    assert before["hard_locked"] and before["delete_code_disabled"]
    after = api.post(f"shares/{share_id}/reset-lockouts").json()
    assert not after["hard_locked"] and not after["delete_code_disabled"]
    assert after["total_failed_password_count"] == 0


def test_actions_on_an_ended_share_answer_409(api: Api, created) -> None:
    share_id, _ = created
    api.post(f"shares/{share_id}/revoke")
    for action, body in (
        ("password", {"password_hash": cheap_argon2_hash("x")}),
        ("reset-lockouts", {}),
    ):
        response = api.post(f"shares/{share_id}/{action}", body)
        assert (response.status_code, response.json()["error"]) == (409, "share_ended"), action


def test_events_are_listed_after_a_cursor(api: Api, created) -> None:
    share_id, token = created
    share = share_find(token=token)
    item = share.items.first()
    event_record(share=share, kind="opened")
    event_record(share=share, kind="viewed", item=item)
    event_record(share=share, kind="downloaded", item=item)
    event_record(share=share, kind="zip_downloaded")
    page = _settled(api, f"shares/{share_id}/events")
    kinds = [event["kind"] for event in page["events"]]
    assert kinds == ["opened", "viewed", "downloaded", "zip_downloaded"]
    assert page["events"][2]["item"] == item.public_id
    assert all(event["share"] == share_id for event in page["events"])
    later = _settled(api, f"shares/{share_id}/events", after=page["events"][1]["id"])
    assert [event["kind"] for event in later["events"]] == ["downloaded", "zip_downloaded"]
    assert _settled(api, f"shares/{share_id}/events", after=page["next"])["events"] == []


def test_the_clinic_feed_pages_through_all_its_shares(api: Api) -> None:
    ids = [api.create(["still"]).json()["id"] for _ in range(2)]
    for share_id in ids:
        api.post(f"shares/{share_id}/revoke")
    first = _settled(api, "events", limit=1)
    assert first["more"] is True and len(first["events"]) == 1
    rest = _settled(api, "events", after=first["next"])
    shares = [event["share"] for event in first["events"] + rest["events"]]
    assert shares == ids


def test_fresh_events_wait_for_the_settle_time(api: Api, created) -> None:
    share_id, _ = created
    api.post(f"shares/{share_id}/revoke")
    assert api.get("events").json()["events"] == []
    assert len(_settled(api, "events")["events"]) == 1


def test_bad_cursors_are_refused(api: Api) -> None:
    for params in ({"after": "x"}, {"after": -1}, {"limit": 0}, {"limit": 501}):
        response = api.get("events", **params)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_cursor")


def test_api_gets_change_no_share(api: Api, created) -> None:
    """B5 for the API: reading status and events leaves the share's row as it was."""
    share_id, _ = created
    before = Share.objects.filter(public_id=share_id).values().get()
    api.get(f"shares/{share_id}")
    _settled(api, f"shares/{share_id}/events")
    _settled(api, "events")
    assert Share.objects.filter(public_id=share_id).values().get() == before
