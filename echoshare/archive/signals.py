"""Signals other clinic apps listen to (rendering, appointment status, derived copies).

The archive does not know what other apps make from its files (staff thumbnails, the render
cache ...); it tells them when archived files are gone, and each app removes its own copies.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent after an instance was stored (created=True) or an identical re-send marked it for
# the patient (created=False). Keyword arguments: instance, created, for_patient.
instance_stored = Signal()

# Sent after the commit of a staff member's link of a study to an appointment (study_link).
# Keyword arguments: study, appointment, user.
study_linked = Signal()

# Sent after the commit that deleted archived files (purge after retention or destruction on
# request), once those files were removed. Keyword argument: sha256s, a frozenset of the
# SHA-256 of the deleted files (DICOM and exported media) that no archived file still has.
# Receivers remove every copy they derived from those files (thumbnails, renders). The
# sender logs a receiver's exception and carries on (the deletion stands); what is left is
# removed by the next `archive verify`, which sends `derived_copies_sweep`.
archived_files_deleted = Signal()

# Sent by `archive verify` (weekly) after it read the whole index: receivers remove the
# derived copies whose source file is no longer archived, i.e. those a failed removal left
# behind or a job wrote while its source was being deleted. Keyword argument:
# still_archived, a function taking a collection of SHA-256 and returning the set of those
# that an archived file (DICOM or exported media) still has. Receivers return how many
# copies they removed.
derived_copies_sweep = Signal()
