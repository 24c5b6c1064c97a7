from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from echoshare.lib.env import env_bool, env_choice, env_int, env_list, env_str


def test_it_parses_booleans_strictly() -> None:
    assert env_bool("X", True, {"X": "no"}) is False
    assert env_bool("X", False, {"X": "Yes"}) is True
    assert env_bool("X", True, {}) is True
    with pytest.raises(ImproperlyConfigured, match="X: expected"):
        env_bool("X", False, {"X": "Flase"})


def test_it_refuses_numbers_out_of_range() -> None:
    assert env_int("N", 5, environ={"N": " 7 "}) == 7
    with pytest.raises(ImproperlyConfigured, match="at least 20"):
        env_int("N", 20, minimum=20, environ={"N": "19"})
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("N", 1, environ={"N": "1.5"})


def test_it_reads_secrets_from_files(tmp_path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    assert env_str("K", "", {"K_FILE": str(secret)}) == "s3cret"
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_str("K", "", {"K_FILE": str(tmp_path / "missing")})


def test_it_refuses_unknown_choices_and_splits_lists() -> None:
    with pytest.raises(ImproperlyConfigured, match="one of all, clinic, portal"):
        env_choice("ROLE", "all", ("all", "clinic", "portal"), {"ROLE": "both"})
    assert env_list("L", [], {"L": "a, b,,c"}) == ["a", "b", "c"]


def test_every_setting_read_from_the_environment_is_documented() -> None:
    """docs/configuration.md lists every ECHOSHARE_* variable the code reads."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    documented = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
    read = {
        name
        for path in (root / "echoshare").rglob("*.py")
        for name in re.findall(r"ECHOSHARE_[A-Z0-9_]+", path.read_text(encoding="utf-8"))
    }
    assert "ECHOSHARE_ROLE" in read
    missing = sorted(name for name in read if name not in documented)
    assert missing == []
