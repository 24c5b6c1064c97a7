"""Staff upload of DICOM files through the web: the same ingest as the DICOM network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from echoshare.archive import errors, storage
from echoshare.archive.services import IngestOrigin, IngestRefused, instance_store
from echoshare.archive.uploads import ArchiveTempFile, ArchiveTempUploadHandler
from echoshare.clinic.access import staff_required
from echoshare.core.client_address import client_address

_HTTP_STATUS = {
    errors.CANNOT_UNDERSTAND: 415,
    errors.SOP_CLASS_NOT_SUPPORTED: 415,
    errors.DATASET_DOES_NOT_MATCH_SOP_CLASS: 422,
    errors.OUT_OF_RESOURCES: 507,
}


@dataclass(frozen=True)
class UploadOutcome:
    name: str
    message: str
    status: int


@csrf_exempt  # checked by _upload_checked, after the size check and before the body is read
@staff_required("clinic.upload_dicom")
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    limit = settings.ARCHIVE_UPLOAD_MAX_MB * 1024 * 1024
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            message = _("The upload is larger than %(mb)s MB.") % {
                "mb": settings.ARCHIVE_UPLOAD_MAX_MB
            }
            return _page(request, [], status=413, error=message)
        request.upload_handlers = [ArchiveTempUploadHandler(request)]
    return _upload_checked(request)


@csrf_protect
def _upload_checked(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, [])
    uploads = request.FILES.getlist("files")
    try:
        if not uploads:
            return _page(request, [], status=400, error=_("Choose one or more DICOM files."))
        outcomes = [_store(request, upload) for upload in uploads]
    finally:
        for upload in uploads:
            if isinstance(upload, ArchiveTempFile):
                storage.remove_quietly(upload.path)
    failed = [o.status for o in outcomes if o.status != 200]
    return _page(request, outcomes, status=failed[0] if failed else 200)


def _store(request: HttpRequest, upload: object) -> UploadOutcome:
    name = getattr(upload, "name", "") or "?"
    if not isinstance(upload, ArchiveTempFile):  # cannot happen with our handler
        return UploadOutcome(name, _("not stored"), 400)
    origin = IngestOrigin(
        source="web", address=client_address(request.META), user_id=request.user.pk
    )
    try:
        result = instance_store(path=Path(upload.path), origin=origin, move=True)
    except IngestRefused as exc:
        return UploadOutcome(
            name,
            _("refused: %(reason)s") % {"reason": exc.reason},
            _HTTP_STATUS.get(exc.status, 422),
        )
    message = _("archived") if result.created else _("already archived")
    return UploadOutcome(name, message, 200)


def _page(
    request: HttpRequest, outcomes: list[UploadOutcome], *, status: int = 200, error: str = ""
) -> HttpResponse:
    context = {
        "outcomes": outcomes,
        "error": error,
        "max_mb": settings.ARCHIVE_UPLOAD_MAX_MB,
    }
    return render(request, "archive/upload.html", context, status=status)
