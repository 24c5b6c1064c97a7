"""Upload: staff drop DICOM files or exported JPEG/PNG/MP4 onto an exam (a USB stick).

DICOM files go through the archive's one ingest (`instance_store`, the same as the DICOM
network) with the archive's upload handler; a study that matched no appointment is then
linked to this exam. Exported JPEG/PNG/MP4 (known by their content, never their name) are
kept with the exam as `ExportedMedia` (clinic.exported_media); staff then tick and crop
them like images (docs/staff-guide.md). Anything else is refused with 415.
"""

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
from echoshare.archive.services import IngestOrigin, IngestRefused, instance_store, study_link
from echoshare.archive.uploads import ArchiveTempFile, ArchiveTempUploadHandler
from echoshare.clinic.access import staff_required
from echoshare.clinic.exported_media import MediaRefused, exported_media_store
from echoshare.clinic.models import Appointment
from echoshare.clinic.staff.common import exam_or_404, staff_user
from echoshare.clinic.staff.thumbnails import media_thumbnail_make
from echoshare.core.client_address import client_address

EXPORTED_MEDIA = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
# The archive's refusals as HTTP statuses (as on the archive's own upload page).
_HTTP_STATUS = {
    errors.CANNOT_UNDERSTAND: 415,
    errors.SOP_CLASS_NOT_SUPPORTED: 415,
    errors.DATASET_DOES_NOT_MATCH_SOP_CLASS: 422,
    errors.OUT_OF_RESOURCES: 507,
}


@dataclass(frozen=True)
class Outcome:
    name: str
    message: str
    status: int


@csrf_exempt  # checked by _checked, after the size check and before the body is read
@staff_required("clinic.upload_dicom")
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest, accession_number: str) -> HttpResponse:
    appointment = exam_or_404(accession_number)
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > settings.ARCHIVE_UPLOAD_MAX_MB * 1024 * 1024:
            error = _("The upload is larger than %(mb)s MB.") % {
                "mb": settings.ARCHIVE_UPLOAD_MAX_MB
            }
            return _page(request, appointment, [], status=413, error=error)
        request.upload_handlers = [ArchiveTempUploadHandler(request)]
    return _checked(request, appointment)


@csrf_protect
def _checked(request: HttpRequest, appointment: Appointment) -> HttpResponse:
    if request.method != "POST":
        return _page(request, appointment, [])
    uploads = request.FILES.getlist("files")
    try:
        if not uploads:
            return _page(request, appointment, [], status=400, error=_("Choose one or more files."))
        outcomes = [_store(request, appointment, upload) for upload in uploads]
    finally:
        for upload in uploads:
            if isinstance(upload, ArchiveTempFile):
                storage.remove_quietly(upload.path)
    failed = [o.status for o in outcomes if o.status != 200]
    return _page(request, appointment, outcomes, status=failed[0] if failed else 200)


def _is_exported_media(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(12)
    return head.startswith(EXPORTED_MEDIA) or head[4:8] == b"ftyp"


def _store(request: HttpRequest, appointment: Appointment, upload: object) -> Outcome:
    name = getattr(upload, "name", "") or "?"
    if not isinstance(upload, ArchiveTempFile):  # cannot happen with our handler
        return Outcome(name, _("not stored"), 400)
    path = Path(upload.path)
    if _is_exported_media(path):
        return _store_media(request, appointment, path, name)
    origin = IngestOrigin(
        source="web", address=client_address(request.META), user_id=request.user.pk
    )
    try:
        result = instance_store(path=path, origin=origin, move=True)
    except IngestRefused as exc:
        status = _HTTP_STATUS.get(exc.status, 422)
        return Outcome(name, _("refused: %(reason)s") % {"reason": exc.reason}, status)
    study = result.instance.study
    if study.appointment_id is None:
        study_link(study=study, appointment=appointment, user=staff_user(request))
    elif study.appointment_id != appointment.pk:
        return Outcome(name, _("archived, but it belongs to another exam"), 409)
    return Outcome(name, _("archived") if result.created else _("already archived"), 200)


def _store_media(request: HttpRequest, appointment: Appointment, path: Path, name: str) -> Outcome:
    try:
        media, created = exported_media_store(
            appointment=appointment, path=path, name=name, user=staff_user(request)
        )
    except MediaRefused as exc:
        return Outcome(name, _("refused: %(reason)s") % {"reason": exc}, exc.status)
    media_thumbnail_make(media=media)  # one small decode; the file was just decoded anyway
    if created:
        return Outcome(name, _("stored with the exam (set a crop box before sending)"), 200)
    return Outcome(name, _("already stored with the exam"), 200)


def _page(
    request: HttpRequest,
    appointment: Appointment,
    outcomes: list[Outcome],
    *,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    context = {
        "appointment": appointment,
        "outcomes": outcomes,
        "error": error,
        "max_mb": settings.ARCHIVE_UPLOAD_MAX_MB,
    }
    return render(request, "clinic/staff/upload.html", context, status=status)
