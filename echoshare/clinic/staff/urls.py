"""URLs of the staff pages, included by echoshare.clinic.urls (names in the "clinic" namespace).

Exams are addressed by accession number, images by their random key, messages by their
random reference: never a database id or a DICOM UID.
"""

from __future__ import annotations

from django.urls import path

from echoshare.clinic.staff import (
    audit_log,
    exam,
    exam_actions,
    outbox,
    status,
    today,
    unmatched,
    upload,
)

_EXAM = "exams/<str:accession_number>/"
_ITEM = _EXAM + "images/<str:instance_key>/"
_SHARE = _EXAM + "shares/<str:key>/"

urlpatterns = [
    path("today/", today.today, name="today"),
    path("today/rows/", today.today_rows, name="today-rows"),
    path(_EXAM, exam.exam, name="exam"),
    path(_EXAM + "thumbnails.json", exam.thumbnails_state, name="exam-thumbnails"),
    path(_EXAM + "state.json", exam.state, name="exam-state"),
    path(_EXAM + "views.json", exam.views_state, name="exam-views"),
    path(_ITEM + "thumbnail.jpg", exam.thumbnail, name="exam-thumbnail"),
    path(_ITEM + "preview.jpg", exam.preview, name="exam-preview"),
    path(_ITEM + "patient.jpg", exam.patient_view, name="exam-patient-view"),
    path(_ITEM + "frame", exam_actions.item_frame, name="exam-frame"),
    path(_ITEM + "crop", exam_actions.item_crop, name="exam-crop"),
    path(_EXAM + "selection", exam_actions.selection, name="exam-selection"),
    path(_EXAM + "hold", exam_actions.hold, name="exam-hold"),
    path(_EXAM + "send", exam_actions.send, name="exam-send"),
    path(_EXAM + "republish", exam_actions.republish, name="exam-republish"),
    path(_EXAM + "password-resend", exam_actions.password_resend, name="exam-password-resend"),
    path(_EXAM + "password-slip", exam_actions.password_slip, name="exam-password-slip"),
    path(_EXAM + "contact", exam_actions.contact_confirm, name="exam-contact-confirm"),
    path(_EXAM + "upload/", upload.upload, name="exam-upload"),
    path(_SHARE + "resend", exam_actions.share_resend, name="share-resend"),
    path(_SHARE + "extend", exam_actions.share_extend, name="share-extend"),
    path(_SHARE + "revoke", exam_actions.share_revoke, name="share-revoke"),
    path(_SHARE + "reset-lock", exam_actions.share_lock_reset, name="share-lock-reset"),
    path("unmatched/", unmatched.unmatched, name="unmatched"),
    path("unmatched/<str:study_key>/assign", unmatched.assign, name="unmatched-assign"),
    path("outbox/", outbox.outbox, name="outbox"),
    path("outbox/<uuid:reference>/retry", outbox.retry, name="outbox-retry"),
    path("outbox/<uuid:reference>/mark-sent", outbox.mark_sent, name="outbox-mark-sent"),
    path("audit/", audit_log.audit_log, name="audit"),
    path("status/", status.system_status, name="status"),
]
