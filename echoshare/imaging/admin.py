"""Device rules in the admin. A rule decides what every image of one machine and size keeps,
blanks or crops for the patient, so each add, change and delete is audited (NEN 7513), in
the admin's own transaction. Records name the rule and its rectangles; the free-text note is
not copied (anyone may be named in it), only that it changed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from echoshare.audit import events
from echoshare.audit.services import audit_record
from echoshare.imaging.models import DeviceRule

SOURCE = "web:admin"


def _rule_values(rule: DeviceRule) -> dict[str, str]:
    """What a rule does, as the audit record shows it (the note only as "set" or not)."""
    return {
        "device": str(rule),
        "active": "on" if rule.active else "off",
        "crop": str(rule.crop),
        "keep": str(rule.keep),
        "blank": str(rule.blank),
        "note": "set" if rule.note else "empty",
    }


def _rule_state(rule: DeviceRule) -> str:
    return "; ".join(f"{name} {value}" for name, value in _rule_values(rule).items())


def _rule_changes(before: DeviceRule, after: DeviceRule) -> str:
    """'active: off -> on; crop: None -> [0, 0, 9, 9]' for what differs, "" for nothing."""
    old, new = _rule_values(before), _rule_values(after)
    if before.note != after.note:
        old["note"], new["note"] = "", "changed"
    return "; ".join(
        f"{name}: {old[name]} -> {new[name]}" if old[name] else f"{name} {new[name]}"
        for name in new
        if old[name] != new[name]
    )


def _rule_ref(rule_pk: int | None, rule: DeviceRule) -> str:
    return f"device rule #{rule_pk} {rule}"


@admin.register(DeviceRule)
class DeviceRuleAdmin(admin.ModelAdmin[DeviceRule]):
    list_display = ("manufacturer", "model_name", "columns", "rows", "active", "created_at")
    list_filter = ("active", "manufacturer")
    search_fields = ("manufacturer", "model_name", "note")
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request: HttpRequest, obj: DeviceRule, form: Any, change: bool) -> None:
        before = DeviceRule.objects.filter(pk=obj.pk).first() if change else None
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        if before is None:
            event, detail = events.DEVICE_RULE_CREATED, _rule_state(obj)
        else:
            event, detail = events.DEVICE_RULE_CHANGED, _rule_changes(before, obj)
            if not detail:
                return  # saved without a change: nothing patients receive differs
        audit_record(
            event=event,
            user=request.user,  # type: ignore[arg-type]
            object_ref=_rule_ref(obj.pk, obj),
            detail=detail,
            source=SOURCE,
        )

    def delete_model(self, request: HttpRequest, obj: DeviceRule) -> None:
        rule_pk, state = obj.pk, _rule_state(obj)
        super().delete_model(request, obj)
        audit_record(
            event=events.DEVICE_RULE_DELETED,
            user=request.user,  # type: ignore[arg-type]
            object_ref=_rule_ref(rule_pk, obj),
            detail=state,
            source=SOURCE,
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DeviceRule]) -> None:
        """The "delete selected" action: one record per rule, all or nothing (the admin runs
        actions outside a transaction)."""
        with transaction.atomic():
            for rule in list(queryset):
                self.delete_model(request, rule)
