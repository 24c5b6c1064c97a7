"""D1..D3: expiry on every access, an idempotent purge that survives interruption, and
storage failures that stay visible. Also the tombstone and the purge command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from echoshare.portal import media
from echoshare.portal.models import Share, ShareEvent, ShareItem
from echoshare.portal.services import (
    PurgeOutcome,
    share_check_password,
    share_delete_by_patient,
    share_final_status_read,
    share_find,
    share_purge,
    share_revoke,
    shares_purge_due,
)
from echoshare.portal.tasks import PurgeFailed, purge_expired, share_purge_task
from tests.portal.factories import DELETE_CODE, PASSWORD, make_share

pytestmark = pytest.mark.django_db


def _files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.PORTAL_MEDIA_DIR).rglob("*") if p.is_file())


def test_expiry_is_enforced_on_every_access_without_the_purge(settings) -> None:
    share, token = make_share()
    moment = share.expires_at
    with time_machine.travel(moment - timedelta(seconds=1)):
        assert share_find(token=token) is not None
    with time_machine.travel(moment):
        assert share_find(token=token) is None
        assert not share_check_password(share=share, password=PASSWORD).ok
        assert share_delete_by_patient(token=token, code=DELETE_CODE).value == "not_found"
    share.refresh_from_db()
    assert share.state == Share.State.ACTIVE  # nothing ran; access is refused anyway
    assert len(_files(settings)) == 5


def test_the_purge_expires_and_removes_files_keeping_a_tombstone(settings) -> None:
    share, _ = make_share()
    _, keep_token = make_share(expires_at=timezone.now() + timedelta(days=100))
    with time_machine.travel(share.expires_at + timedelta(minutes=1)):
        counts = shares_purge_due()
    assert (counts.due, counts.purged, counts.failed) == (1, 1, 0)
    share.refresh_from_db()
    assert share.state == Share.State.PURGED and share.ended_reason == "expired"
    assert share.token_hash is None and share.password_hash == share.delete_code_hash == ""
    assert share.token_salt == "" and not share.items.exists()
    assert not share.media_dir().exists()
    kinds = list(ShareEvent.objects.filter(share=share).values_list("kind", flat=True))
    assert kinds == ["expired", "purged"]
    assert share_find(token=keep_token) is not None and len(_files(settings)) == 5


def test_purging_again_changes_nothing() -> None:
    share, _ = make_share(expires_at=timezone.now() - timedelta(seconds=1))
    assert shares_purge_due().purged == 1
    events = ShareEvent.objects.count()
    assert shares_purge_due().due == 0
    assert share_purge(share_id=share.pk) is PurgeOutcome.NOT_DUE
    assert ShareEvent.objects.count() == events


def test_an_interrupted_purge_finishes_when_run_again(monkeypatch, settings) -> None:
    share, token = make_share(items=("still", "clip", "still"))
    share_revoke(share=share)
    real_remove = media.remove_file
    calls = 0

    def failing_second_file(path: Path) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(5, "Input/output error")
        real_remove(path)

    monkeypatch.setattr(media, "remove_file", failing_second_file)
    assert share_purge(share_id=share.pk) is PurgeOutcome.FAILED
    share.refresh_from_db()
    assert share.state == Share.State.PURGE_FAILED
    assert "Input/output error" in share.purge_error
    assert 0 < len(_files(settings)) < 8
    monkeypatch.setattr(media, "remove_file", real_remove)
    assert shares_purge_due().purged == 1
    share.refresh_from_db()
    assert share.state == Share.State.PURGED and share.purge_error == ""
    assert share.ended_reason == "revoked"
    assert _files(settings) == [] and ShareItem.objects.count() == 0
    assert share_find(token=token) is None


def test_a_failed_deletion_is_reported_as_failed_never_as_done(api, monkeypatch) -> None:
    body = api.create(["still"]).json()
    share = Share.objects.get(public_id=body["id"])
    share_revoke(share=share)

    def broken(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(media, "remove_file", broken)
    with pytest.raises(PurgeFailed):
        share_purge_task.call(share.pk)  # the queue retries it
    status = api.get(f"shares/{body['id']}").json()
    assert status["state"] == "purge_failed"
    assert "Permission denied" in status["purge_error"]
    assert status["purged_at"] is None and len(status["items"]) == 1
    kinds = ShareEvent.objects.filter(share=share).values_list("kind", flat=True)
    assert "purged" not in kinds and "purge_failed" in kinds
    with pytest.raises(PurgeFailed):
        purge_expired.call()


def test_a_patient_deleted_share_is_purged_by_the_queued_job(settings) -> None:
    share, token = make_share()
    assert share_delete_by_patient(token=token, code=DELETE_CODE).value == "deleted"
    assert share_purge_task.call(share.pk) == "purged"
    share.refresh_from_db()
    assert share.state == Share.State.PURGED and share.ended_reason == "deleted_by_patient"
    assert _files(settings) == []


def test_the_tombstone_goes_once_the_clinic_has_read_the_final_status(api) -> None:
    body = api.create(["still"]).json()
    share = Share.objects.get(public_id=body["id"])
    share_revoke(share=share)
    share_purge(share_id=share.pk)
    later = timezone.now() + timedelta(days=2)
    with time_machine.travel(later):
        assert shares_purge_due().tombstones_removed == 0  # not read yet
    assert api.get(f"shares/{body['id']}").json()["state"] == "purged"
    with time_machine.travel(later):
        assert shares_purge_due().tombstones_removed == 1
    assert not Share.objects.filter(pk=share.pk).exists()
    assert api.get(f"shares/{body['id']}").status_code == 404


def test_an_unread_tombstone_goes_after_ninety_days() -> None:
    share, _ = make_share(items=("still",), expires_at=timezone.now() - timedelta(seconds=1))
    shares_purge_due()
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        assert shares_purge_due().tombstones_removed == 1
    assert not Share.objects.filter(pk=share.pk).exists()
    share_final_status_read(share_ids=[share.pk])  # harmless for a gone share


def test_the_command_prints_counts_and_dry_run_changes_nothing(settings) -> None:
    make_share(items=("still",), expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("portal_purge", "--dry-run", stdout=out)
    assert "due=1" in out.getvalue()
    assert Share.objects.get().state == Share.State.ACTIVE and len(_files(settings)) == 2
    out = StringIO()
    call_command("portal_purge", stdout=out)
    assert "purged=1" in out.getvalue() and "failed=0" in out.getvalue()
    assert Share.objects.get().state == Share.State.PURGED and _files(settings) == []


def test_the_periodic_job_is_registered() -> None:
    from echoshare.jobs.periodic import registered

    job = registered()["portal.purge_expired"]
    assert job.task is purge_expired and job.every == timedelta(minutes=10)


def test_the_periodic_purge_queues_no_extra_jobs_for_expired_shares(
    django_capture_on_commit_callbacks,
) -> None:
    from django_tasks_db.models import DBTaskResult

    make_share(items=("still",), expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert purge_expired.call()["purged"] == 1
    assert callbacks == [] and DBTaskResult.objects.count() == 0


def test_files_no_share_names_are_removed_once_a_day_old(settings) -> None:
    share, token = make_share(items=("still",))
    orphan = Path(settings.PORTAL_MEDIA_DIR) / ("ab" * 16)
    orphan.mkdir()
    (orphan / "left-behind.jpg").write_bytes(b"\xff\xd8\xff")
    unrelated = Path(settings.PORTAL_MEDIA_DIR) / "logos"
    unrelated.mkdir()
    assert shares_purge_due().orphans_removed == 0  # could still be a create in progress
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert shares_purge_due(dry_run=True).orphans_removed == 1
        assert orphan.exists()
        assert shares_purge_due().orphans_removed == 1
    assert not orphan.exists() and unrelated.exists()
    assert share.media_dir().is_dir() and share_find(token=token) is not None
