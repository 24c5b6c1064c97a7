"""Staff roles (Django groups) and the permissions each holds: the table in docs/roles.md.

The groups are created by a data migration; `roles_sync` gives them exactly these
permissions and runs after every `migrate` (post_migrate), so permissions that other apps
add later are picked up, and a role never keeps a permission this table no longer lists.
"""

from __future__ import annotations

from typing import Any

SONOGRAPHER = "sonographer"
FRONTDESK = "frontdesk"
ADMINISTRATOR = "administrator"
ROLES = (SONOGRAPHER, FRONTDESK, ADMINISTRATOR)

_BOOKING = (
    "clinic.view_patient",
    "clinic.add_patient",
    "clinic.change_patient",
    "clinic.view_appointment",
    "clinic.add_appointment",
    "clinic.change_appointment",
    "clinic.import_appointments",
    "clinic.resend_link",
    "notify.retry_message",
)
_IMAGING = (
    "clinic.view_patient",
    "clinic.view_appointment",
    "clinic.change_appointment",
    "clinic.view_study",
    "clinic.upload_dicom",
    "clinic.select_images",
    "clinic.publish_share",
    "clinic.resend_link",
    "notify.retry_message",
    "clinic.request_destruction",
)
_ADMINISTRATION = (
    "clinic.export_study",
    "clinic.approve_destruction",
    "clinic.view_archive_report",
    "clinic.manage_staff",
    "clinic.view_apitoken",
    "clinic.add_apitoken",
    "clinic.change_apitoken",
    "audit.view_auditrecord",
    # The shipped device rules are off until a clinic checks them (docs/anonymization.md):
    # administrators switch them on and correct crops in the admin (audited).
    "imaging.view_devicerule",
    "imaging.change_devicerule",
    "auth.view_user",
    "auth.change_user",
    "auth.view_group",
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    FRONTDESK: frozenset(_BOOKING),
    SONOGRAPHER: frozenset(_IMAGING),
    ADMINISTRATOR: frozenset(_BOOKING + _IMAGING + _ADMINISTRATION),
}


def roles_sync(apps: Any = None) -> None:
    """Create the role groups and set their permissions to ROLE_PERMISSIONS.

    Permissions that do not exist yet (an app not migrated so far) are left out; the next
    run adds them. Works with the historical `apps` of a migration or the live registry.
    """
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    by_name = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    for role, wanted in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([by_name[name] for name in sorted(wanted) if name in by_name])
