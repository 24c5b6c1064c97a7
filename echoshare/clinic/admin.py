"""Patients, appointments and booking API tokens in the admin; the admin itself behind 2FA.

The admin site becomes a `StaffAdminSite`: it requires an OTP-verified session, and its login
and logout are the staff views (so the lockout and the audit apply there too). Every add,
change, delete and look at a patient's record is audited in the admin's own transaction.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.clinic.booking_input import normalize_email, normalize_phone
from echoshare.clinic.models import ApiToken, Appointment, Patient
from echoshare.clinic.services import accession_number_new, api_token_create, api_token_revoke


class StaffAdminSite(OTPAdminSite):
    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return redirect_to_login(
            request.GET.get("next") or reverse("admin:index"), reverse("clinic:login")
        )

    def logout(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        from echoshare.clinic.views import staff_logout

        return staff_logout(request)


# Swap the class of the default site (django-otp's documented way): every app's admin
# registrations stay where they are, and all of them now need the second factor.
admin.site.__class__ = StaffAdminSite
admin.site.site_header = "echoshare"


def _user(request: HttpRequest) -> Any:
    return request.user


def _changed_fields(obj: Any) -> str:
    """'fields: a, b' for the stored values that `obj` changes (the form's changed_data
    would also list a phone number typed differently but normalized to the same value)."""
    stored = type(obj).objects.filter(pk=obj.pk).first()
    if stored is None:
        return ""
    names = [
        f.name
        for f in obj._meta.concrete_fields
        if f.name not in ("updated_at", "created_at")
        and getattr(stored, f.attname) != getattr(obj, f.attname)
    ]
    return "fields: " + ", ".join(names)


class _AuditedViewsMixin:
    """Audits opening a record's page (access to patient data, NEN 7513)."""

    view_event = events.PATIENT_VIEWED

    def _patient_ref(self, obj: Any) -> str:
        raise NotImplementedError

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        if request.method == "GET" and response.status_code == 200:
            obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
            if obj is not None:
                audit_record(
                    event=self.view_event,
                    user=_user(request),
                    patient_ref=self._patient_ref(obj),
                    object_ref=str(self._object_ref(obj)),
                    source="web:admin",
                )
        return response

    def _object_ref(self, obj: Any) -> str:
        return ""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        if request.method == "GET" and response.status_code == 200:
            audit_record(
                event=self.view_event,
                user=_user(request),
                object_ref=f"{self.model._meta.model_name} list",  # type: ignore[attr-defined]
                detail="&".join(f"{k}={v}" for k, v in sorted(request.GET.items())),
                source="web:admin",
            )
        return response


class PatientForm(forms.ModelForm[Patient]):
    class Meta:
        model = Patient
        fields = [
            "patient_id",
            "family_name",
            "given_name",
            "birth_date",
            "sex",
            "phone",
            "email",
            "language",
            "consent_sms",
            "consent_email",
        ]

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data.get("phone") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data.get("email") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Patient)
class PatientAdmin(_AuditedViewsMixin, admin.ModelAdmin[Patient]):
    form = PatientForm
    list_display = ["patient_id", "family_name", "given_name", "birth_date", "language"]
    search_fields = ["=patient_id", "family_name"]
    list_filter = ["language", "consent_sms", "consent_email"]

    def _patient_ref(self, obj: Patient) -> str:
        return obj.patient_id

    def save_model(self, request: HttpRequest, obj: Patient, form: Any, change: bool) -> None:
        detail = _changed_fields(obj) if change else ""
        super().save_model(request, obj, form, change)
        audit_record(
            event=events.PATIENT_CHANGED if change else events.PATIENT_CREATED,
            user=_user(request),
            patient_ref=obj.patient_id,
            detail=detail,
            source="web:admin",
        )

    def delete_model(self, request: HttpRequest, obj: Patient) -> None:
        patient_ref = obj.patient_id
        super().delete_model(request, obj)
        audit_record(
            event=events.PATIENT_DELETED,
            user=_user(request),
            patient_ref=patient_ref,
            source="web:admin",
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Patient]) -> None:
        for patient in list(queryset):
            self.delete_model(request, patient)


class AppointmentForm(forms.ModelForm[Appointment]):
    class Meta:
        model = Appointment
        fields = [
            "patient",
            "scheduled_at",
            "exam_type",
            "modality",
            "station_ae_title",
            "accession_number",
            "status",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["accession_number"].required = False
        self.fields["accession_number"].help_text = "Left empty: echoshare makes one."

    def clean_accession_number(self) -> str:
        value = (self.cleaned_data.get("accession_number") or "").strip()
        return value or accession_number_new()


@admin.register(Appointment)
class AppointmentAdmin(_AuditedViewsMixin, admin.ModelAdmin[Appointment]):
    form = AppointmentForm
    view_event = events.APPOINTMENT_VIEWED
    list_display = ["accession_number", "scheduled_at", "patient", "exam_type", "status"]
    list_filter = ["status", "modality"]
    search_fields = ["=accession_number", "=patient__patient_id"]
    date_hierarchy = "scheduled_at"
    readonly_fields = ["study_instance_uid"]
    autocomplete_fields = ["patient"]
    list_select_related = ["patient"]

    def _patient_ref(self, obj: Appointment) -> str:
        return obj.patient.patient_id

    def _object_ref(self, obj: Appointment) -> str:
        return f"appointment {obj.accession_number}"

    def save_model(self, request: HttpRequest, obj: Appointment, form: Any, change: bool) -> None:
        detail = _changed_fields(obj) if change else ""
        super().save_model(request, obj, form, change)
        cancelled = "status" in form.changed_data and obj.status == Appointment.Status.CANCELLED
        event = events.APPOINTMENT_CREATED
        if change:
            event = events.APPOINTMENT_CANCELLED if cancelled else events.APPOINTMENT_CHANGED
        audit_record(
            event=event,
            user=_user(request),
            patient_ref=obj.patient.patient_id,
            object_ref=f"appointment {obj.accession_number}",
            detail=detail,
            source="web:admin",
        )

    def delete_model(self, request: HttpRequest, obj: Appointment) -> None:
        patient_ref, ref = obj.patient.patient_id, f"appointment {obj.accession_number}"
        super().delete_model(request, obj)
        audit_record(
            event=events.APPOINTMENT_DELETED,
            user=_user(request),
            patient_ref=patient_ref,
            object_ref=ref,
            source="web:admin",
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        for appointment in list(queryset):
            self.delete_model(request, appointment)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Adding a token shows its plaintext once, in a message; revoking is an action."""

    fields = ["name"]
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row stays for the audit trail

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, plaintext = api_token_create(name=obj.name, user=_user(request), source="web:admin")
        obj.pk, obj.token_hash, obj.prefix = token.pk, token.token_hash, token.prefix
        obj._state.adding = False
        messages.warning(
            request,
            f"Token for {token.name}: {plaintext}  (shown only now: copy it to the booking system)",
        )

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token, user=_user(request), source="web:admin")
