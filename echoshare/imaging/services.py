"""Writes of the imaging app: saving a staff crop as a device rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from echoshare.imaging.masking import Rect
from echoshare.imaging.models import DeviceRule

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def device_rule_from_crop(
    *,
    manufacturer: str,
    model_name: str,
    columns: int,
    rows: int,
    crop: Rect,
    user: User | None,
    note: str = "",
) -> DeviceRule:
    """Save a staff crop as the active rule for this machine and image size (one click).

    An earlier active rule for the same machine and size is deactivated, not deleted, so the
    history of what was applied stays visible to admins.
    """
    rule = DeviceRule(
        manufacturer=manufacturer.strip(),
        model_name=model_name.strip(),
        columns=columns,
        rows=rows,
        crop=crop.as_list(),
        note=note or "saved from a staff crop",
        created_by=user if user is not None and user.is_authenticated else None,
    )
    with transaction.atomic():
        DeviceRule.objects.filter(
            manufacturer=rule.manufacturer,
            model_name=rule.model_name,
            columns=columns,
            rows=rows,
            active=True,
        ).update(active=False)
        rule.full_clean()  # after the update: the one-active-rule constraint is checked too
        rule.save()
    return rule
