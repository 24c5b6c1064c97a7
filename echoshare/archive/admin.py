"""The archive in the Django admin: read-only (nothing archived is edited or deleted here),
plus the destruction-on-request flow: one staff member adds a request, another approves it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from echoshare.archive.models import DestructionRequest, FixityRun, Instance, InstanceFile, Study
from echoshare.archive.retention import (
    DestructionRefused,
    destruction_approve,
    destruction_reject,
    destruction_request,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # E5: only purge and approved destruction delete archived data


class InstanceFileInline(admin.TabularInline):  # type: ignore[type-arg]
    model = InstanceFile
    fields = readonly_fields = (
        "version",
        "relative_path",
        "sha256",
        "size",
        "transfer_syntax_uid",
        "received_at",
        "source",
        "calling_ae_title",
        "called_ae_title",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = [
        "key",
        "study_date",
        "accession_number",
        "appointment",
        "retain_until",
        "last_received_at",
    ]
    list_filter = [("appointment", admin.EmptyFieldListFilter), "study_date"]
    search_fields = ["=accession_number", "=patient_id", "=study_instance_uid"]
    readonly_fields = [f.name for f in Study._meta.fields]


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = [
        "key",
        "study",
        "sop_class_uid",
        "number_of_frames",
        "selected_for_patient",
        "created_at",
    ]
    list_filter = ["selected_for_patient", "sop_class_uid"]
    search_fields = ["=sop_instance_uid"]
    readonly_fields = [f.name for f in Instance._meta.fields]
    inlines = [InstanceFileInline]


@admin.register(FixityRun)
class FixityRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "checked", "missing", "changed", "unindexed", "ok"]
    readonly_fields = [f.name for f in FixityRun._meta.fields]

    @admin.display(boolean=True)
    def ok(self, run: FixityRun) -> bool:
        return run.ok


class DestructionRequestForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = DestructionRequest
        fields = ["study", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        study = data.get("study")
        open_states = (DestructionRequest.Status.REQUESTED, DestructionRequest.Status.APPROVED)
        if (
            study
            and DestructionRequest.objects.filter(study=study, status__in=open_states).exists()
        ):
            raise forms.ValidationError("This study already has an open destruction request.")
        if not (data.get("reason") or "").strip():
            raise forms.ValidationError("Give the reason: the patient's request.")
        return data


@admin.register(DestructionRequest)
class DestructionRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = DestructionRequestForm
    list_display = [
        "key",
        "study_instance_uid",
        "status",
        "requested_by",
        "requested_at",
        "approved_by",
        "executed_at",
    ]
    list_filter = ["status"]
    fields = ["study", "reason"]
    raw_id_fields = ["study"]
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["study", "reason"] if obj is not None else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clinic.request_destruction")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("clinic.approve_destruction")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm("clinic.request_destruction") or user.has_perm(
            "clinic.approve_destruction"
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: DestructionRequest, form: Any, change: bool
    ) -> None:
        # Through the service, so the rules and the audit record apply.
        created = destruction_request(study=obj.study, requested_by=request.user, reason=obj.reason)  # type: ignore[arg-type]
        obj.pk = created.pk

    @admin.action(description="Approve the selected destruction requests", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[DestructionRequest]) -> None:
        for item in queryset:
            try:
                destruction_approve(request=item, approved_by=request.user)  # type: ignore[arg-type]
            except DestructionRefused as exc:
                self.message_user(request, f"{item.key}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{item.key}: approved; the scheduler destroys it next")

    @admin.action(description="Reject the selected destruction requests", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[DestructionRequest]) -> None:
        for item in queryset:
            try:
                destruction_reject(request=item, rejected_by=request.user)  # type: ignore[arg-type]
            except DestructionRefused as exc:
                self.message_user(request, f"{item.key}: {exc}", messages.ERROR)
