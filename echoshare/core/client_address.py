"""The client's address as the web server sees it, and its pseudonym for the access log.

Addresses are personal data and the portal's logs must not hold them (DESIGN, SECURITY G2):
the access log writes `client_hash(address)`, an HMAC of the address under a key of the
current UTC day. The same address gives the same pseudonym all day, an unrelated one the
next day.

The day key is 32 random bytes, not derived from any long-lived secret, so that once it is
gone nobody (not even whoever holds ECHOSHARE_TOKEN_HASH_KEY) can test a guessed address
against an old log line. It lives in `DATA_DIR/log-keys/YYYY-MM-DD` (file 0600, folder 0700)
so that every process of the installation on this machine (gunicorn's master and workers,
`echoshare run`'s children) writes the same pseudonyms:

- the first process that needs it writes it to a temporary file and links that to the final
  name; `link` fails when the name exists, so processes racing at midnight all end up with
  the one key that won;
- each process caches the key for the day, and when it first loads a day's key deletes
  every key file (and temporary file) of an earlier day: yesterday's key lasts until the
  first pseudonym of today is written, an older one never survives that moment;
- if the folder cannot be used (or its file system has no hard links), the process falls
  back to a random key of its own for the day (one warning): its pseudonyms then differ
  from the other processes', and logging never fails;
- if a later day's key file already exists (this process's clock is behind), today's key is
  not stored: the process uses a random key of its own rather than revive a finished day.

`client_hash(address, day=...)` for a day other than today reads that day's key file if it
still exists; otherwise it uses a random key kept only in this process's memory: such a
pseudonym matches nothing any log holds, and no other process can reproduce it.

(The portal's rate-limit counters, echoshare.portal.ratelimit, key addresses differently:
from ECHOSHARE_TOKEN_HASH_KEY and the date, since web servers on several hosts must agree.)

Behind nginx the peer is the proxy: when it is one of ECHOSHARE_TRUSTED_PROXIES, the client
is the right-most X-Forwarded-For entry that is not a trusted proxy (entries further left
were written by the client itself and are never trusted).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings

from echoshare.lib.secrets import keyed_hash

logger = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_FOLDER = "log-keys"
# A key file is named by its day; a temporary file by its day and a random part.
_KEY_NAME = re.compile(r"^\.?(\d{4}-\d{2}-\d{2})(?:\.[A-Za-z0-9_-]+\.tmp)?$")
_EPHEMERAL_DAYS_KEPT = 8

_lock = threading.Lock()
_day_keys: dict[tuple[Path, date], bytes] = {}  # today's key per folder (stored or fallback)
_ephemeral_keys: dict[tuple[Path, date], bytes] = {}  # other days' keys nobody stored


def _reset_after_fork() -> None:
    # A thread of the parent may have held the lock while gunicorn forked a worker.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in settings.TRUSTED_PROXIES)


def client_address(environ: Mapping[str, str]) -> str:
    """The client's address from a WSGI environ (or `request.META`)."""
    peer = environ.get("REMOTE_ADDR", "") or ""
    if not _trusted(peer):
        return peer
    hops = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop):
            return hop
    return peer


def client_hash(address: str, *, day: date | None = None) -> str:
    """A 64-bit pseudonym of `address`, stable for one UTC day (see the module's doc)."""
    return keyed_hash(day_key(day), f"log:{address}")[:16]


def key_folder() -> Path:
    return Path(settings.DATA_DIR) / KEY_FOLDER


def day_key(day: date | None = None) -> bytes:
    """The 32-byte key of `day` (default: today, UTC), as described in the module's doc."""
    today = datetime.now(UTC).date()
    folder = key_folder()
    if day is None or day == today:
        return _todays_key(folder, today)
    return _other_days_key(folder, day)


def _todays_key(folder: Path, today: date) -> bytes:
    key = _day_keys.get((folder, today))  # the path of every request: no lock needed
    if key is not None:
        return key
    with _lock:
        key = _day_keys.get((folder, today))
        if key is not None:
            return key
        problem: str | None = None
        try:
            key = _load_or_create(folder, today)
        except (OSError, ValueError) as error:
            problem = f"{type(error).__name__}: {error}"
        if key is None:  # unusable folder, or a later day's key exists (our clock is behind)
            key = secrets.token_bytes(KEY_BYTES)
        # Forget other days (and other folders) so the cache never grows.
        _day_keys.clear()
        _day_keys[(folder, today)] = key
    if problem is not None:  # logged outside the lock: a handler might want a pseudonym
        logger.warning(
            "log pseudonyms: cannot keep the day key in %s (%s); this process uses a key "
            "of its own today, so its pseudonyms differ from the other processes'",
            folder,
            problem,
        )
    return key


def _other_days_key(folder: Path, day: date) -> bytes:
    with _lock:
        key = _ephemeral_keys.get((folder, day))
        if key is not None:
            return key
        try:
            key = _read_key(folder / day.isoformat())
        except (OSError, ValueError):
            key = None
        if key is not None:  # still on disk (yesterday's, until today's is made): not cached
            return key
        key = secrets.token_bytes(KEY_BYTES)
        if len(_ephemeral_keys) >= _EPHEMERAL_DAYS_KEPT:
            del _ephemeral_keys[next(iter(_ephemeral_keys))]
        _ephemeral_keys[(folder, day)] = key
        return key


def _load_or_create(folder: Path, today: date) -> bytes | None:
    """Today's key from its file, made first if missing; None when a later day's exists.

    Raises OSError when the folder cannot be used, ValueError when the file is damaged."""
    _prepare_folder(folder)
    days = _days_on_disk(folder)
    if any(day > today for day in days):
        return None
    path = folder / today.isoformat()
    key = _read_key(path)
    if key is None:
        key = _create_key(path, today)
        if any(day > today for day in _days_on_disk(folder)):
            # A process already in the next day swept while we were creating: take back
            # the file we revived; this process still uses the key for its last moments.
            path.unlink(missing_ok=True)
            return key
    _delete_older_than(folder, today)
    return key


def _prepare_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = folder.lstat().st_mode
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(f"{folder} is not a folder")
    if stat.S_IMODE(mode) != 0o700:  # made by hand, or under a loose umask
        folder.chmod(0o700)


def _days_on_disk(folder: Path) -> dict[date, list[Path]]:
    """Key files and temporary files of the folder, by their day; other names are left alone."""
    days: dict[date, list[Path]] = {}
    for entry in os.scandir(folder):
        match = _KEY_NAME.match(entry.name)
        if not match:
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        days.setdefault(day, []).append(Path(entry.path))
    return days


def _read_key(path: Path) -> bytes | None:
    """The key in `path`, None if there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        key = file.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte key")
    return key


def _create_key(path: Path, today: date) -> bytes:
    """Write a new key to a temporary file and link it to `path`: of processes racing to
    create it, one link succeeds and the others read the key that won."""
    key = secrets.token_bytes(KEY_BYTES)
    temporary = path.with_name(f".{today.isoformat()}.{secrets.token_urlsafe(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        winner = _read_key(path)
        if winner is None:  # the winner's file vanished again: only a hand-made mess does that
            raise
        return winner
    finally:
        temporary.unlink(missing_ok=True)
    return key


def _delete_older_than(folder: Path, today: date) -> None:
    for day, paths in _days_on_disk(folder).items():
        if day < today:
            for path in paths:
                path.unlink(missing_ok=True)
