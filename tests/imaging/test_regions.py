"""Validation of the Sequence of Ultrasound Regions: all regions plausible, or none is used."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from echoshare.imaging.masking import Rect
from echoshare.imaging.regions import validated_regions


def _dataset(*boxes: tuple[int, ...]) -> Dataset:
    ds = Dataset()
    items = []
    for box in boxes:
        item = Dataset()
        keywords = (
            "RegionLocationMinX0",
            "RegionLocationMinY0",
            "RegionLocationMaxX1",
            "RegionLocationMaxY1",
        )
        for keyword, value in zip(keywords, box, strict=False):
            setattr(item, keyword, value)
        items.append(item)
    ds.SequenceOfUltrasoundRegions = Sequence(items)
    return ds


def test_plausible_regions_are_used() -> None:
    check = validated_regions(
        _dataset((10, 20, 299, 199), (300, 20, 399, 99)), columns=400, rows=300
    )
    assert check.regions == (Rect(10, 20, 299, 199), Rect(300, 20, 399, 99))


@pytest.mark.parametrize(
    ("boxes", "reason"),
    [
        ((), "no Sequence of Ultrasound Regions"),
        (((10, 20, 400, 199),), "region 1 (10,20,400,199) is not inside the 400x300 image"),
        (((10, 20, 399, 300),), "region 1 (10,20,399,300) is not inside the 400x300 image"),
        (((50, 20, 10, 199),), "region 1 (50,20,10,199) is empty or not ordered"),
        (((10, 20, 10, 199),), "region 1 (10,20,10,199) is empty or not ordered"),
        (((10, 20, 299),), "region 1 lacks coordinates"),
        (((0, 0, 399, 299),), "the regions cover the whole frame"),
        (((0, 0, 199, 299), (200, 0, 399, 299)), "the regions cover the whole frame"),
    ],
)
def test_implausible_regions_are_not_used(boxes: tuple, reason: str) -> None:
    check = validated_regions(_dataset(*boxes), columns=400, rows=300)
    assert check.regions is None
    assert check.reason == reason


def test_one_bad_region_discards_them_all_rather_than_clamping() -> None:
    check = validated_regions(
        _dataset((10, 20, 299, 199), (300, 20, 420, 99)), columns=400, rows=300
    )
    assert check.regions is None
    assert check.reason.startswith("region 2 ")
