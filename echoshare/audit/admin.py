"""The audit log in the Django admin: read-only, and every look at it is itself audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.audit.services import audit_record


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin[AuditRecord]):
    list_display = ["seq", "at", "event", "outcome", "username", "patient_ref", "object_ref"]
    list_filter = ["event", "outcome"]
    search_fields = ["=patient_ref", "=username", "=object_ref"]
    readonly_fields = [f.name for f in AuditRecord._meta.fields]
    list_per_page = 100
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            query = "&".join(f"{key}={value}" for key, value in sorted(request.GET.items()))
            audit_record(
                event=events.AUDIT_VIEWED,
                user=request.user,  # type: ignore[arg-type]
                object_ref="audit log list",
                detail=query,
                source="web",
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        record = AuditRecord.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if response.status_code == 200 and record is not None:
            audit_record(
                event=events.AUDIT_VIEWED,
                user=request.user,  # type: ignore[arg-type]
                patient_ref=record.patient_ref,
                object_ref=f"audit record #{record.seq}",
                source="web",
            )
        return response
