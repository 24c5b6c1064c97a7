"""Device rules: per machine and image size, what of the screen a patient may see.

Used when an image carries no valid Sequence of Ultrasound Regions. A rule applies only to
exactly its manufacturer, model and image size: the same machine lays out its screen
differently at other sizes, and a rule applied to the wrong layout would leak text.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from echoshare.imaging.masking import Rect
from echoshare.imaging.render import DeviceRuleSpec

RECT_HELP = _("a list of [x0, y0, x1, y1] pixel rectangles, corners included")


def _rect(value: Any) -> Rect:
    if not (isinstance(value, list) and len(value) == 4 and all(type(v) is int for v in value)):
        raise ValidationError(
            _("expected [x0, y0, x1, y1] as whole numbers, got %(v)r"), params={"v": value}
        )
    return Rect(*value)


class DeviceRuleQuerySet(models.QuerySet["DeviceRule"]):
    def specs(self) -> list[DeviceRuleSpec]:
        """The active rules as plain values for imaging.render."""
        return [rule.spec() for rule in self.filter(active=True)]


class DeviceRule(models.Model):
    manufacturer = models.CharField(_("manufacturer"), max_length=64)
    model_name = models.CharField(_("model name"), max_length=64)
    columns = models.PositiveIntegerField(_("columns (image width)"))
    rows = models.PositiveIntegerField(_("rows (image height)"))
    keep = models.JSONField(_("keep only these"), default=list, blank=True, help_text=RECT_HELP)
    blank = models.JSONField(_("blank these"), default=list, blank=True, help_text=RECT_HELP)
    crop = models.JSONField(
        _("crop box"), null=True, blank=True, help_text=_("[x0, y0, x1, y1] or empty")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = DeviceRuleQuerySet.as_manager()

    class Meta:
        ordering = ["manufacturer", "model_name", "columns", "rows"]
        verbose_name = _("device rule")
        verbose_name_plural = _("device rules")
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "model_name", "columns", "rows"],
                condition=Q(active=True),
                name="one_active_rule_per_device_and_size",
            )
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.model_name} {self.columns}x{self.rows}"

    def rects(self) -> tuple[tuple[Rect, ...], tuple[Rect, ...], Rect | None]:
        """(keep, blank, crop) as Rects; raises ValidationError on malformed values."""
        for name in ("keep", "blank"):
            if not isinstance(getattr(self, name), list):
                raise ValidationError({name: RECT_HELP})
        keep = tuple(_rect(v) for v in self.keep)
        blank = tuple(_rect(v) for v in self.blank)
        crop = _rect(self.crop) if self.crop is not None else None
        return keep, blank, crop

    def clean(self) -> None:
        keep, blank, crop = self.rects()
        if not (keep or blank or crop):
            raise ValidationError(_("a rule must keep, blank or crop something"))
        for rect in (*keep, *blank, *([crop] if crop else [])):
            if not rect.fits(self.columns, self.rows):
                raise ValidationError(
                    _("rectangle %(r)s is not inside the %(c)sx%(h)s image"),
                    params={"r": str(rect), "c": self.columns, "h": self.rows},
                )

    def spec(self) -> DeviceRuleSpec:
        keep, blank, crop = self.rects()
        return DeviceRuleSpec(
            manufacturer=self.manufacturer,
            model_name=self.model_name,
            columns=self.columns,
            rows=self.rows,
            keep=keep,
            blank=blank,
            crop=crop,
            id=self.pk,
        )
