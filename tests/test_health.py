from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_it_reports_database_storage_and_backlog(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] is True
    assert body["queue_backlog"] == 0
    assert all(folder["ok"] for folder in body["storage"].values())


@pytest.mark.django_db
def test_it_fails_when_a_folder_cannot_be_written(client, settings, tmp_path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    settings.ARCHIVE_DIR = blocker / "archive"
    settings.PORTAL_MEDIA_DIR = blocker / "media"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"


def test_it_sets_security_headers(client) -> None:
    response = client.get("/healthz-does-not-exist")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "noindex" in response["X-Robots-Tag"]
