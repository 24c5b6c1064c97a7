"""The archive in the Django admin: read-only (nothing archived is edited or deleted here),
plus the destruction-on-request flow: one staff member adds a request, another approves it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from echoshare.archive.models import (
    DestructionRequest,
    FixityRun,
    Instance,
    InstanceFile,
    Study,
    study_patient_ref,
)
from echoshare.archive.retention import (
    DestructionRefused,
    destruction_approve,
    destruction_reject,
    destruction_request,
    destruction_request_refusal,
)
from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.models import Appointment


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    view_permission = "clinic.view_study"  # the role table in docs/roles.md

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(self.view_permission)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.view_permission)

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

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        study = Study.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if response.status_code == 200 and study is not None:
            audit_record(
                event=events.STUDY_VIEWED,
                user=request.user,  # type: ignore[arg-type]
                patient_ref=study_patient_ref(study),
                object_ref=f"study:{study.key}",
                source="web",
            )
        return response


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
    view_permission = "clinic.view_archive_report"
    list_display = ["started_at", "finished_at", "checked", "missing", "changed", "unindexed", "ok"]
    readonly_fields = [f.name for f in FixityRun._meta.fields]

    @admin.display(boolean=True)
    def ok(self, run: FixityRun) -> bool:
        return run.ok


class DestructionRequestForm(forms.ModelForm):  # type: ignore[type-arg]
    """A study (by its id, as before) or a whole exam (by its accession number, the number
    staff know): an exam with only exported media has no study to name."""

    exam = forms.CharField(
        label="Exam (accession number)",
        required=False,
        max_length=16,
        help_text="Every study of the exam and all its exported media. Leave empty to name a "
        "study instead (a study takes the exported media of its exam along).",
    )

    class Meta:
        model = DestructionRequest
        fields = ["study", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        number = (data.get("exam") or "").strip()
        if number:
            data["appointment"] = Appointment.objects.filter(accession_number=number).first()
            if data["appointment"] is None:
                raise forms.ValidationError(f"No exam with accession number {number}.")
        # The service's own rules, so that the form shows them instead of the save failing.
        problem = destruction_request_refusal(
            study=data.get("study"),
            appointment=data.get("appointment"),
            reason=data.get("reason") or "",
        )
        if problem:
            raise forms.ValidationError(problem[:1].upper() + problem[1:] + ".")
        return data


@admin.register(DestructionRequest)
class DestructionRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = DestructionRequestForm
    list_display = [
        "key",
        "accession_number",
        "study_instance_uid",
        "status",
        "requested_by",
        "requested_at",
        "approved_by",
        "executed_at",
    ]
    list_filter = ["status"]
    raw_id_fields = ["study"]
    actions = ["approve", "reject"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("exam", "study", "reason")
        return ("accession_number", "study_instance_uid", "reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.get_fields(request, obj) if obj is not None else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clinic.request_destruction")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("clinic.approve_destruction")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm("clinic.request_destruction") or user.has_perm(
            "clinic.approve_destruction"
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: DestructionRequest, form: Any, change: bool
    ) -> None:
        # Through the service, so the rules and the audit record apply (the form checked them).
        created = destruction_request(
            study=obj.study,
            appointment=form.cleaned_data.get("appointment"),
            requested_by=request.user,  # type: ignore[arg-type]
            reason=obj.reason,
        )
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
