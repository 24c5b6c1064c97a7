"""The selection: patient-AE arrivals in arrival order, staff ticks and order, poster
frame, staff crop (saved as a device rule on request) and the staff preview."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoshare.archive.models import deletion_allowed
from echoshare.audit.models import AuditRecord
from echoshare.clinic.selection import (
    SelectionError,
    selected_item_crop_set,
    selected_item_frame_set,
    selected_item_preview,
    selection_items,
    selection_set,
)
from echoshare.imaging.models import DeviceRule
from tests.publishing.conftest import book, ingest

pytestmark = pytest.mark.django_db


def test_patient_ae_images_are_selected_in_arrival_order(tmp_path: Path) -> None:
    appointment = book()
    first = ingest(appointment, tmp_path)
    ingest(appointment, tmp_path, for_patient=False)
    third = ingest(appointment, tmp_path, frames=3)
    assert [item.instance for item in selection_items(appointment=appointment)] == [first, third]


def test_staff_choose_and_order_the_items(tmp_path: Path) -> None:
    appointment = book()
    first = ingest(appointment, tmp_path)
    archive_only = ingest(appointment, tmp_path, for_patient=False)
    items = selection_set(
        appointment=appointment, instance_keys=[archive_only.key, first.key], user=None
    )
    assert [item.instance for item in items] == [archive_only, first]
    items = selection_set(appointment=appointment, instance_keys=[first.key], user=None)
    assert [item.instance for item in items] == [first]
    archive_only.refresh_from_db()
    assert not archive_only.selected_for_patient
    assert AuditRecord.objects.filter(event="selection.changed").count() == 2


def test_an_image_of_another_exam_cannot_be_selected(tmp_path: Path) -> None:
    appointment, other = book(), book(days_ahead=9)
    foreign = ingest(other, tmp_path)
    with pytest.raises(SelectionError):
        selection_set(appointment=appointment, instance_keys=[foreign.key], user=None)


def test_poster_frame_must_exist(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, frames=3)
    [item] = selection_items(appointment=appointment)
    assert selected_item_frame_set(item=item, frame=2, user=None).frame == 2
    with pytest.raises(SelectionError):
        selected_item_frame_set(item=item, frame=3, user=None)


def test_a_crop_outside_the_image_is_refused(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, regions=None)
    [item] = selection_items(appointment=appointment)
    with pytest.raises(SelectionError):
        selected_item_crop_set(item=item, crop=(0, 0, 160, 120), user=None)  # 160x120 image
    with pytest.raises(SelectionError):
        selected_item_crop_set(item=item, crop=(0, 0, 50), user=None)  # type: ignore[arg-type]
    item.refresh_from_db()
    assert item.crop is None


def test_a_crop_saved_as_rule_decides_the_next_image_of_that_machine(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, regions=None)
    [item] = selection_items(appointment=appointment)
    selected_item_crop_set(item=item, crop=(20, 24, 99, 83), user=None, save_as_rule=True)
    assert DeviceRule.objects.filter(active=True).count() == 1
    ingest(appointment, tmp_path, regions=None)
    later = selection_items(appointment=appointment)[1]
    assert selected_item_preview(item=later).branch == "device_rule"


def test_the_preview_shows_the_branch_and_is_a_jpeg(tmp_path: Path) -> None:
    appointment = book()
    ingest(appointment, tmp_path, regions=None)
    [item] = selection_items(appointment=appointment)
    preview = selected_item_preview(item=item)
    assert preview.branch == "needs_review" and preview.jpeg.startswith(b"\xff\xd8")
    assert (preview.columns, preview.rows) == (160, 120)


def test_a_selection_never_blocks_the_archive_deleting_a_study_lawfully(tmp_path: Path) -> None:
    appointment = book()
    instance = ingest(appointment, tmp_path)
    assert len(selection_items(appointment=appointment)) == 1
    study = instance.study
    with deletion_allowed([study.pk]):
        study.delete()
    assert selection_items(appointment=appointment) == []
