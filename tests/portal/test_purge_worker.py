"""A revoked share's files are removed by the real worker (`echoshare worker`) from the
job its revoke queued after commit; the status then says purged."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoshare.portal.models import Share
from echoshare.portal.services import share_find, share_revoke
from tests.portal import processes
from tests.portal.factories import make_share


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_purges_a_revoked_share(tmp_path: Path, settings) -> None:
    share, token = make_share()
    share_revoke(share=share)  # autocommit: the job is queued by on_commit
    assert share_find(token=token) is None
    worker = processes.start("worker", tmp_path / "worker.log")
    try:
        processes.wait_for(
            lambda: Share.objects.get(pk=share.pk).state == Share.State.PURGED,
            worker,
            "the purge job",
        )
    finally:
        processes.stop(worker)
    assert not share.media_dir().exists()
    assert [p for p in Path(settings.PORTAL_MEDIA_DIR).rglob("*") if p.is_file()] == []
