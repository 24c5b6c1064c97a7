"""Signals other clinic apps listen to (rendering, appointment status); sent after commit."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after an instance was stored (created=True) or an identical re-send marked it for
# the patient (created=False). Keyword arguments: instance, created, for_patient.
instance_stored = Signal()
