"""Device rules in the database: the shipped set, exact matching, saving a staff crop."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import translation

from echoshare.imaging.masking import Rect
from echoshare.imaging.models import DeviceRule
from echoshare.imaging.render import RenderSettings, render_item
from echoshare.imaging.services import device_rule_from_crop

from .conftest import JPEG2K, PALETTE, RGB, YBR, assert_clean_jpeg

pytestmark = pytest.mark.django_db
SETTINGS = RenderSettings(pixel_budget=50_000_000)


def test_the_shipped_rules_are_there_and_switched_off() -> None:
    shipped = DeviceRule.objects.filter(created_by=None)
    assert shipped.count() == 4
    assert not shipped.filter(active=True).exists()
    assert DeviceRule.objects.specs() == []
    for rule in shipped:
        rule.full_clean()  # every shipped rectangle lies inside its image size


@pytest.mark.parametrize("path", [PALETTE, RGB, YBR, JPEG2K], ids=lambda p: p.name)
def test_the_examples_need_review_with_the_rules_as_shipped(tmp_path: Path, path: Path) -> None:
    result = render_item(
        path, out_dir=tmp_path / "o", settings=SETTINGS, rules=DeviceRule.objects.specs()
    )
    assert result.branch == "needs_review"


def test_an_enabled_shipped_rule_renders_its_machine(tmp_path: Path) -> None:
    DeviceRule.objects.filter(model_name="LOGIQ 700", columns=640).update(active=True)
    rules = DeviceRule.objects.specs()
    result = render_item(JPEG2K, out_dir=tmp_path / "o", settings=SETTINGS, rules=rules)
    assert result.branch == "device_rule"
    assert_clean_jpeg(result.outputs["still"])


def test_a_staff_crop_saved_as_a_rule_matches_only_that_size(tmp_path: Path) -> None:
    user = get_user_model().objects.create_user("sonographer", password="x" * 12)
    rule = device_rule_from_crop(
        manufacturer="G.E. Medical Systems",
        model_name="LOGIQ 700",
        columns=320,
        rows=240,
        crop=Rect(30, 50, 289, 169),
        user=user,
    )
    assert (rule.active, rule.created_by, rule.crop) == (True, user, [30, 50, 289, 169])
    rules = DeviceRule.objects.specs()
    assert render_item(RGB, out_dir=tmp_path / "a", settings=SETTINGS, rules=rules).branch == (
        "device_rule"
    )
    assert render_item(JPEG2K, out_dir=tmp_path / "b", settings=SETTINGS, rules=rules).branch == (
        "needs_review"
    )


def test_saving_a_crop_again_replaces_the_active_rule() -> None:
    first = device_rule_from_crop(
        manufacturer="SonoSite, Inc.",
        model_name="Turbo",
        columns=320,
        rows=240,
        crop=Rect(0, 0, 99, 99),
        user=None,
    )
    second = device_rule_from_crop(
        manufacturer="SonoSite, Inc.",
        model_name="Turbo",
        columns=320,
        rows=240,
        crop=Rect(10, 10, 109, 109),
        user=None,
    )
    first.refresh_from_db()
    assert not first.active and second.active
    assert [s.crop for s in DeviceRule.objects.specs()] == [Rect(10, 10, 109, 109)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "a rule must keep, blank or crop something"),
        ({"crop": [0, 0, 320, 10]}, "is not inside the 320x240 image"),
        ({"blank": [[5, 5, 1, 1]]}, "is not inside the 320x240 image"),
        ({"keep": [[1, 2, 3]]}, "expected [x0, y0, x1, y1]"),
    ],
)
def test_malformed_rules_are_refused(fields: dict, message: str) -> None:
    rule = DeviceRule(manufacturer="M", model_name="X", columns=320, rows=240, **fields)
    with translation.override("en"):  # the messages are translated (Dutch by default)
        with pytest.raises(ValidationError) as caught:
            rule.full_clean()
        assert message in str(caught.value)


def test_admins_can_edit_rules() -> None:
    assert admin.site.is_registered(DeviceRule)
