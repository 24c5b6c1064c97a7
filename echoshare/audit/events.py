"""The audit events of the clinic tier (NEN 7513): what `audit_record(event=...)` accepts.

Every value is "<noun>.<verb>" so that records sort and filter by subject. Add a constant here
(and to docs/roles.md if a role gates it) before recording a new kind of event: an unknown
event is refused, so a typo cannot create an event nobody searches for.
"""

from __future__ import annotations

# Outcomes
SUCCESS = "success"
FAILURE = "failure"
DENIED = "denied"  # refused for lack of permission or a lockout
OUTCOMES = frozenset({SUCCESS, FAILURE, DENIED})

# Staff accounts and sessions
LOGIN = "staff.login"
LOGIN_FAILED = "staff.login_failed"
LOGIN_LOCKED = "staff.login_locked"
LOGOUT = "staff.logout"
SESSION_EXPIRED = "staff.session_expired"
STAFF_CREATED = "staff.created"
STAFF_CHANGED = "staff.changed"
OTP_DEVICE_CREATED = "staff.otp_device_created"
# A logged-in staff member was answered 403 on a clinic-tier page, JSON endpoint or admin page
# (outcome "denied"; NEN 7513 counts refused attempts as access attempts). Written in one
# place, echoshare.clinic.middleware.AccessDeniedAuditMiddleware, never by a view.
ACCESS_DENIED = "access.denied"

# The audit log itself
AUDIT_VIEWED = "audit.viewed"
AUDIT_VERIFIED = "audit.verified"

# Patients and appointments
PATIENT_CREATED = "patient.created"
PATIENT_CHANGED = "patient.changed"
PATIENT_VIEWED = "patient.viewed"
PATIENT_DELETED = "patient.deleted"
APPOINTMENT_CREATED = "appointment.created"
APPOINTMENT_CHANGED = "appointment.changed"
APPOINTMENT_CANCELLED = "appointment.cancelled"
APPOINTMENT_VIEWED = "appointment.viewed"
APPOINTMENT_DELETED = "appointment.deleted"
APPOINTMENT_IMPORTED = "appointment.imported"
API_TOKEN_CREATED = "api_token.created"  # noqa: S105 - an event name
API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105 - an event name

# DICOM and the archive
WORKLIST_QUERIED = "worklist.queried"
IMAGE_STORED = "image.stored"
IMAGE_REFUSED = "image.refused"
IMAGE_UPLOADED = "image.uploaded"
INSTANCE_LINKED = "instance.linked"
STUDY_VIEWED = "study.viewed"
STUDY_EXPORTED = "study.exported"
STUDY_SELECTED = "study.selected"
ARCHIVE_VERIFIED = "archive.verified"
ARCHIVE_DESTRUCTION_REQUESTED = "archive.destruction_requested"
ARCHIVE_DESTRUCTION_APPROVED = "archive.destruction_approved"
ARCHIVE_DESTRUCTION_REJECTED = "archive.destruction_rejected"
ARCHIVE_DESTRUCTION_EXECUTED = "archive.destruction_executed"
ARCHIVE_PURGED = "archive.purged"
BACKUP_CREATED = "backup.created"
BACKUP_RESTORED = "backup.restored"

# Rendering, publishing and notifying
IMAGE_RENDERED = "image.rendered"
PREVIEW_VIEWED = "preview.viewed"
CROP_SET = "crop.set"
# Device rules (what every image of one machine and size keeps, blanks or crops), changed in
# the admin; a staff crop saved as a rule from the exam page is CROP_SET ("saved as device rule").
DEVICE_RULE_CREATED = "device_rule.created"
DEVICE_RULE_CHANGED = "device_rule.changed"
DEVICE_RULE_DELETED = "device_rule.deleted"
SHARE_PUBLISHED = "share.published"
SHARE_DELETED = "share.deleted"
SHARE_EXPIRED = "share.expired"
SHARE_PASSWORD_RESET = "share.password_reset"  # noqa: S105 - an event name
LINK_SENT = "link.sent"
# Publishing (issue 6): staff actions on shares, holds, passwords and contact details.
SHARE_PUBLISH_REQUESTED = "share.publish_requested"
SHARE_PUBLISH_FAILED = "share.publish_failed"
SHARE_EXTENDED = "share.extended"
SHARE_REVOKED = "share.revoked"
SHARE_LOCK_RESET = "share.lock_reset"
SHARE_RESENT = "share.resent"
APPOINTMENT_HOLD_SET = "appointment.hold_set"
PASSWORD_SENT = "password.sent"  # noqa: S105 - an event name
PASSWORD_SLIP_PRINTED = "password.slip_printed"  # noqa: S105 - an event name
CONTACT_CONFIRMED = "contact.confirmed"
SELECTION_CHANGED = "selection.changed"
LINK_SEND_FAILED = "link.send_failed"

ALL_EVENTS = frozenset(
    value
    for name, value in list(globals().items())
    if name.isupper() and isinstance(value, str) and "." in value
)
