"""Admin views of the portal's tenants (only where django.contrib.admin is installed).

Keys are made with `echoshare portal_apikey_create` (the plaintext is shown once); here
they can only be looked at. Shares are read-only and show no hashes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from echoshare.portal.models import ApiKey, Clinic, Share


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "default_language", "default_share_months")
    readonly_fields = ("public_id", "created_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "clinic", "label", "created_at", "revoked_at")
    fields = ("clinic", "prefix", "label", "created_at", "revoked_at")
    readonly_fields = ("clinic", "prefix", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = ("public_id", "clinic", "state", "expires_at", "created_at")
    list_filter = ("state", "clinic")
    fields = (
        "public_id", "clinic", "state", "ended_reason", "language", "expires_at",
        "failed_password_count", "total_failed_password_count", "locked_until",
        "hard_locked", "delete_code_failures", "purge_error", "purged_at", "created_at",
    )  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.fields  # type: ignore[return-value]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
