"""Making and storing the secrets of DESIGN "Secrets and codes".

Tokens and codes come from `secrets`; tokens and API keys are stored as keyed hashes
(HMAC-SHA-256 with a key from the settings), passwords and delete codes as argon2id hashes.
Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# No look-alikes: no 0/O, 1/I/l. Passwords mix cases for entropy; delete codes are
# case-insensitive, so only digits and capitals (31 symbols).
PASSWORD_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"  # noqa: S105
PASSWORD_LENGTH = 8
DELETE_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
DELETE_CODE_LENGTH = 4
TOKEN_BYTES = 16  # 128 bits -> 22 base64url characters

# argon2id with the library's RFC 9106 low-memory profile: strong, and quick enough that a
# burst of patients opening links does not starve a 2-core portal.
_hasher = PasswordHasher()


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """A URL-safe random token of `nbytes` random bytes, without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode("ascii")


def new_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def new_delete_code() -> str:
    return "".join(secrets.choice(DELETE_CODE_ALPHABET) for _ in range(DELETE_CODE_LENGTH))


def normalize_delete_code(code: str) -> str:
    """Delete codes are case-insensitive and patients type spaces."""
    return "".join(code.split()).upper()


def keyed_hash(key: bytes | str, value: str) -> str:
    """HMAC-SHA-256 of `value` as hex: what is stored for tokens and API keys."""
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(key_bytes, value.encode("utf-8"), hashlib.sha256).hexdigest()


def keyed_hash_matches(key: bytes | str, value: str, stored: str) -> bool:
    return hmac.compare_digest(keyed_hash(key, value), stored)


def argon2_hash(secret: str) -> str:
    return _hasher.hash(secret)


def argon2_verify(stored_hash: str, secret: str) -> bool:
    """True when `secret` matches; False for a wrong secret or a malformed hash."""
    try:
        return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def is_argon2_hash(value: str) -> bool:
    """A cheap syntactic check that `value` is an argon2id encoded hash (not a plaintext)."""
    return value.startswith("$argon2id$") and value.count("$") == 5
