"""The appointment's status follows its exam's images (connected in apps.py).

The archive sends `instance_stored` after the commit of every stored image, on the ingest's
hot path (a sending machine waits for each image's status), and `study_linked` when staff
link an unmatched study by hand. The first image of an exam makes a booked or arrived
appointment examined; every later image finds it examined on the object the ingest already
loaded and costs no query. Nothing here may fail the ingest or the link: both are committed
before these run, so an error is logged and the status stays as it was (staff see the
images either way, and the next image tries again).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from echoshare.clinic.services import NOT_EXAMINED_YET, appointment_examined

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from echoshare.archive.models import Instance, Study
    from echoshare.clinic.models import Appointment

log = logging.getLogger(__name__)


def examined_on_image(sender: Any, *, instance: Instance, **kwargs: Any) -> None:
    """instance_stored: the exam's first image makes its appointment examined."""
    try:
        study = instance.study  # loaded by the ingest, with its appointment and patient
        if study.appointment_id is None:  # unmatched: staff link it (study_linked)
            return
        appointment = study.appointment
        if appointment is None or appointment.status not in NOT_EXAMINED_YET:
            return
        appointment_examined(appointment=appointment, reason="first image stored", source="archive")
    except Exception:  # the image is archived: never let its status fail the ingest
        log.exception("appointment status after storing instance %s not set", instance.pk)


def examined_on_link(
    sender: Any, *, study: Study, appointment: Appointment, user: User | None, **kwargs: Any
) -> None:
    """study_linked: a study staff linked by hand has images, so its exam took place."""
    try:
        appointment_examined(
            appointment=appointment, reason="study linked by staff", user=user, source="web"
        )
    except Exception:  # the link is committed: it stands without the status
        log.exception("appointment status after linking study %s not set", study.pk)
