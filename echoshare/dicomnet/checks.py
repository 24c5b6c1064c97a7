"""System checks for the DICOM listener's settings (CONVENTIONS 2): echoshare.E010-E014."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from echoshare.dicomnet.config import AllowedCaller, DicomConfig

# PS3.5 table 6.2-1: AE is up to 16 characters of the default repertoire, no backslash or
# control characters; leading and trailing spaces are not significant.
_AE_MAX_LENGTH = 16


def ae_title_problem(value: str) -> str | None:
    """What is wrong with an AE title, or None."""
    if not value.strip():
        return "is empty"
    if len(value) > _AE_MAX_LENGTH:
        return f"is {len(value)} characters long; DICOM allows at most {_AE_MAX_LENGTH}"
    if value != value.strip():
        return "has leading or trailing spaces, which DICOM does not count"
    if any(ord(char) < 0x20 or ord(char) > 0x7E or char == "\\" for char in value):
        return "holds characters other than printable ASCII (or a backslash)"
    return None


@register()
def check_dicom_ae_titles(app_configs: Any, **kwargs: Any) -> list[Any]:
    if not settings.SERVES_CLINIC:
        return []
    config = DicomConfig.from_settings()
    problems: list[Any] = []
    for name, value, check_id in (
        ("ECHOSHARE_DICOM_ARCHIVE_AE", config.archive_ae, "echoshare.E010"),
        ("ECHOSHARE_DICOM_PATIENT_AE", config.patient_ae, "echoshare.E011"),
    ):
        problem = ae_title_problem(value)
        if problem:
            problems.append(Error(f"{name} ({value!r}) {problem}.", id=check_id))
    if config.archive_ae == config.patient_ae:
        problems.append(
            Error(
                "ECHOSHARE_DICOM_ARCHIVE_AE and ECHOSHARE_DICOM_PATIENT_AE are the same "
                f"({config.archive_ae!r}); the machine could not tell archive from patient "
                "picks.",
                id="echoshare.E012",
            )
        )
    problems += _allowed_caller_problems(config.allowed_callers)
    return problems


def _allowed_caller_problems(callers: tuple[AllowedCaller, ...]) -> list[Any]:
    problems: list[Any] = []
    for caller in callers:
        problem = ae_title_problem(caller.ae_title)
        if problem:
            problems.append(
                Error(
                    f"ECHOSHARE_DICOM_ALLOWED_CALLING_AES: {caller.ae_title!r} {problem}.",
                    hint="Give a comma-separated list of AE or AE@address.",
                    id="echoshare.E013",
                )
            )
    return problems
