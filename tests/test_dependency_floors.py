"""F5: the locked versions of the libraries that parse untrusted files (DICOM from the network
and uploads, images, video) stay at or above the releases with the known parser fixes.

The floors are the ones pyproject.toml declares; `uv lock` honours them, but a lock edited by
hand, merged badly or made with an old pyproject could go below them. The known-vulnerability
scan against a live database runs at release time (SECURITY.md F5), not here.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# pydicom 3.0.2: the fixed release SECURITY.md names; Pillow 11.3 and PyAV 15.0: the current
# lines (with their bundled libjpeg/libpng/ffmpeg fixes) when the floors were set.
FLOORS = {"pydicom": "3.0.2", "pillow": "11.3", "av": "15.0"}


def locked_versions(lock: dict[str, Any]) -> dict[str, Version]:
    """Name -> version of each package in a parsed uv.lock; a name locked twice (uv does so
    for different platforms or Pythons) keeps its lowest version, the one that matters here."""
    versions: dict[str, Version] = {}
    for package in lock.get("package", []):
        name, version = package["name"].lower(), package.get("version")
        if version is None:  # the project itself, or a path dependency
            continue
        parsed = Version(version)
        versions[name] = min(parsed, versions.get(name, parsed))
    return versions


def below_floor(versions: dict[str, Version]) -> list[str]:
    problems = []
    for name, floor in FLOORS.items():
        locked = versions.get(name)
        if locked is None:
            problems.append(f"{name} is not in the lock")
        elif locked < Version(floor):
            problems.append(f"{name} {locked} is below {floor}")
    return problems


def _lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def test_the_lock_keeps_each_parser_at_or_above_its_floor() -> None:
    assert below_floor(locked_versions(_lock())) == []


def test_a_lock_below_a_floor_is_caught() -> None:
    lock = tomllib.loads(
        """
        [[package]]
        name = "pydicom"
        version = "3.0.1"
        [[package]]
        name = "Pillow"
        version = "12.0.0"
        [[package]]
        name = "pillow"
        version = "11.2.1"
        """
    )
    assert below_floor(locked_versions(lock)) == [
        "pydicom 3.0.1 is below 3.0.2",
        "pillow 11.2.1 is below 11.3",
        "av is not in the lock",
    ]


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_pyproject_declares_the_floor(name: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [requirement] = [
        Requirement(line)
        for line in project["dependencies"]
        if Requirement(line).name.lower() == name
    ]
    floor = Version(FLOORS[name])
    assert requirement.specifier.contains(floor)
    # Nothing older than the floor is allowed: a release just before it is refused.
    assert not requirement.specifier.contains(_just_below(floor)), name


def _just_below(floor: Version) -> Version:
    major, minor, micro = floor.major, floor.minor, floor.micro
    if micro:
        return Version(f"{major}.{minor}.{micro - 1}")
    if minor:
        return Version(f"{major}.{minor - 1}.99")
    return Version(f"{major - 1}.99.99")


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_installed_version_is_the_locked_one(name: str) -> None:
    """The tests ran against what the lock says, not something older left in the venv."""
    assert Version(metadata.version(name)) == locked_versions(_lock())[name]
