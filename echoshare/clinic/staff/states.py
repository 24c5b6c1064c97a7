"""The one state a staff member reads for an appointment on the Today and Exam pages.

From the most advanced fact: the share's state once published, else on hold, an image that
needs review, images received, else the appointment's own status.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from echoshare.clinic.models import Appointment, Publication

LABELS = {
    "booked": _("booked"),
    "arrived": _("arrived"),
    "examined": _("examined"),
    "cancelled": _("cancelled"),
    "images_received": _("images received"),
    "needs_review": _("needs review"),
    "on_hold": _("on hold"),
    "publishing": _("publishing"),
    "publish_failed": _("publishing failed"),
    "sent": _("sent"),
    "opened": _("opened"),
    "deleted_by_patient": _("deleted by patient"),
    "expired": _("expired"),
    "revoked": _("revoked"),
}

_FROM_PUBLICATION = {
    Publication.State.QUEUED: "publishing",
    Publication.State.FAILED: "publish_failed",
    Publication.State.SENT: "sent",
    Publication.State.OPENED: "opened",
    Publication.State.DOWNLOADED: "opened",
    Publication.State.DELETED: "deleted_by_patient",
    Publication.State.EXPIRED: "expired",
    Publication.State.REVOKED: "revoked",
}


@dataclass(frozen=True)
class ExamState:
    code: str

    @property
    def label(self) -> str:
        return str(LABELS[self.code])


def exam_state(appointment: Appointment) -> ExamState:
    """Lists prefetch `publications` and `selected_items` and annotate `image_count`; a
    single appointment works without."""
    publications = sorted(appointment.publications.all(), key=lambda p: p.created_at)
    if publications:
        return ExamState(_FROM_PUBLICATION[Publication.State(publications[-1].state)])
    if appointment.status == Appointment.Status.CANCELLED:
        return ExamState("cancelled")
    if getattr(appointment, "on_hold", False):
        return ExamState("on_hold")
    if any(item.needs_review for item in appointment.selected_items.all()):
        return ExamState("needs_review")
    images = getattr(appointment, "image_count", None)
    if images is None:
        images = sum(study.instances.count() for study in appointment.studies.all())
    if images:
        return ExamState("images_received")
    return ExamState(str(appointment.status))
