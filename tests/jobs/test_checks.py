"""The queue's configuration check."""

from __future__ import annotations

from echoshare.jobs.checks import check_job_timing


def test_a_stale_limit_shorter_than_three_heartbeats_is_an_error(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 5
    settings.JOB_STALE_SECONDS = 14
    assert [e.id for e in check_job_timing(None)] == ["echoshare.jobs.E001"]
    settings.JOB_STALE_SECONDS = 15
    assert check_job_timing(None) == []
