"""Encrypting what the clinic must be able to read again, such as a message text that carries
a link, a delete code or a password (DESIGN "Secrets and codes": kept encrypted, never plain).

Fernet (AES-128-CBC + HMAC-SHA-256) with keys derived from ECHOSHARE_CLINIC_SECRETS_KEY. The
setting may list several keys separated by commas: the first encrypts, every one decrypts, so
a key can be rotated without losing what is queued.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SealBrokenError(Exception):
    """The sealed value cannot be opened: a key was removed from the setting, or it was changed."""


def _fernet_key(secret: str) -> bytes:
    digest = hashlib.sha256(b"echoshare clinic secrets\x00" + secret.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _box(setting: str) -> MultiFernet:
    secrets = [part.strip() for part in setting.split(",") if part.strip()]
    if not secrets:
        raise SealBrokenError("ECHOSHARE_CLINIC_SECRETS_KEY is empty")
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def seal(value: dict[str, Any]) -> str:
    """`value` as JSON, encrypted under the first key; ASCII, safe for a text column."""
    plain = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return _box(settings.CLINIC_SECRETS_KEY).encrypt(plain).decode("ascii")


def unseal(token: str) -> dict[str, Any]:
    try:
        plain = _box(settings.CLINIC_SECRETS_KEY).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise SealBrokenError(
            "cannot decrypt: the key that sealed it is no longer in ECHOSHARE_CLINIC_SECRETS_KEY"
        ) from exc
    value = json.loads(plain)
    if not isinstance(value, dict):
        raise SealBrokenError("sealed value is not an object")
    return value
