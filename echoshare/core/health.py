"""/healthz for monitors: database, storage, queue backlog. Holds no personal data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

BACKLOG_WARN = 500


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _folder_ok(path: Path) -> dict[str, object]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        writable = os.access(path, os.W_OK)
        free = shutil.disk_usage(path).free
    except OSError:
        return {"ok": False}
    return {"ok": writable, "free_bytes": free}


def _queue_backlog() -> int | None:
    try:
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.ready().count()
    except Exception:
        return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    folders = {"data": settings.DATA_DIR}
    if settings.SERVES_PORTAL:
        folders["portal_media"] = settings.PORTAL_MEDIA_DIR
    if settings.SERVES_CLINIC:
        folders["archive"] = settings.ARCHIVE_DIR
    storage = {name: _folder_ok(Path(path)) for name, path in folders.items()}
    backlog = _queue_backlog()
    database = _database_ok()
    ok = database and all(s["ok"] for s in storage.values()) and backlog is not None
    body = {
        "status": "ok" if ok else "fail",
        "role": settings.ROLE,
        "database": database,
        "storage": storage,
        "queue_backlog": backlog,
        "queue_backlog_high": backlog is not None and backlog > BACKLOG_WARN,
    }
    return JsonResponse(body, status=200 if ok else 503)
