"""System checks for the DICOM settings (echoshare.E010-E013)."""

from __future__ import annotations

import pytest

from echoshare.dicomnet.checks import ae_title_problem, check_dicom_ae_titles


def _ids(settings) -> list[str]:
    return [problem.id for problem in check_dicom_ae_titles(None)]


def test_the_defaults_pass(settings):
    assert _ids(settings) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("A" * 17, "is 17 characters long"),
        (" LEADING", "leading or trailing spaces"),
        ("BACK\\SLASH", "printable ASCII"),
        ("TAB\tHERE", "printable ASCII"),
        ("ÉCHO", "printable ASCII"),
    ],
)
def test_bad_ae_titles_are_named(value, problem):
    assert problem in (ae_title_problem(value) or "")


def test_an_ae_title_of_sixteen_characters_is_fine():
    assert ae_title_problem("A" * 16) is None


def test_a_too_long_archive_ae_title_is_an_error(settings):
    settings.DICOM_ARCHIVE_AE = "ECHOSHARE_ARCHIVE_1"
    assert _ids(settings) == ["echoshare.E010"]


def test_an_empty_patient_ae_title_is_an_error(settings):
    settings.DICOM_PATIENT_AE = ""
    assert _ids(settings) == ["echoshare.E011"]


def test_the_same_title_for_archive_and_patient_is_an_error(settings):
    settings.DICOM_PATIENT_AE = settings.DICOM_ARCHIVE_AE
    assert _ids(settings) == ["echoshare.E012"]


def test_a_bad_allowed_caller_is_an_error(settings):
    settings.DICOM_ALLOWED_CALLING_AES = ["US_ROOM1", "@10.0.0.1", "WAY_TOO_LONG_AE_TITLE@10.0.0.2"]
    assert _ids(settings) == ["echoshare.E013", "echoshare.E013"]
