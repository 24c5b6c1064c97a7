"""Forms of the staff pages: every value a POST carries is checked here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class FrameForm(forms.Form):
    frame = forms.IntegerField(label=_("Poster frame"), min_value=0)


class CropForm(forms.Form):
    x0 = forms.IntegerField(min_value=0)
    y0 = forms.IntegerField(min_value=0)
    x1 = forms.IntegerField(min_value=0)
    y1 = forms.IntegerField(min_value=0)
    save_as_rule = forms.BooleanField(label=_("Save as the rule for this machine"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if all(k in data for k in ("x0", "y0", "x1", "y1")) and (
            data["x1"] < data["x0"] or data["y1"] < data["y0"]
        ):
            raise forms.ValidationError(
                _("The crop box's second corner must be right of and below the first.")
            )
        return data

    def crop(self) -> tuple[int, int, int, int]:
        data = self.cleaned_data
        return (data["x0"], data["y0"], data["x1"], data["y1"])


class HoldForm(forms.Form):
    on_hold = forms.BooleanField(required=False)


class ExtendForm(forms.Form):
    until = forms.DateField(
        label=_("Available until"), widget=forms.DateInput(attrs={"type": "date"})
    )


class AssignForm(forms.Form):
    accession_number = forms.CharField(label=_("Accession number of the exam"), max_length=16)


class AuditFilterForm(forms.Form):
    event = forms.CharField(label=_("Event"), required=False, max_length=64)
    patient_ref = forms.CharField(label=_("Patient ID"), required=False, max_length=64)
    username = forms.CharField(label=_("Staff member"), required=False, max_length=150)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def selection_from_post(post: Any) -> list[str]:
    """The ticked instance keys in the order staff gave (`order-<key>` numbers, then as listed).

    Raises ValueError on an order that is not a whole number.
    """
    keys = [k for k in post.getlist("keys") if k]
    listed = {key: n for n, key in enumerate(keys)}

    def position(key: str) -> tuple[int, int]:
        raw = post.get(f"order-{key}", "").strip()
        return (int(raw) if raw else 10_000, listed[key])

    return sorted(keys, key=position)
