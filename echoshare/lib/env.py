"""Strict parsers for settings read from the environment.

Every parser fails loudly (ImproperlyConfigured) on a value it does not understand, so that
"False", "0" or a typo never silently turns a feature on. A setting NAME may also be given
as NAME_FILE, the path of a file holding the value (for secrets kept out of the environment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if name in env:
        return env[name]
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc}") from exc
    return None


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected one of yes/no/true/false/1/0, got {value!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        result = default
    else:
        try:
            result = int(value.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: expected a whole number, got {value!r}") from exc
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {result}")
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(f"{name}: must be at most {maximum}, got {result}")
    return result


def env_float(
    name: str, default: float, *, minimum: float = 0.0, environ: Mapping[str, str] | None = None
) -> float:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        result = float(value.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from exc
    if result < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {result}")
    return result


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, environ).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [part.strip() for part in value.split(",") if part.strip()]
