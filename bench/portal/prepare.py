"""Make the benchmark's shares in a fresh database (run by run.py with its environment).

Prints one JSON line: the link tokens, item ids and file keys the benchmark requests.
"""

from __future__ import annotations

import io
import json
import os

import django

django.setup()  # a script, not a library module

from django.core.management import call_command  # noqa: E402

from echoshare.lib.secrets import argon2_hash  # noqa: E402
from echoshare.portal.models import Clinic, Share  # noqa: E402
from echoshare.portal.services import ItemUpload, clinic_create, share_create  # noqa: E402

PASSWORD = "Kx7mPq4R"
MB = 1024 * 1024


def upload(kind: str, size: int) -> ItemUpload:
    """Random bytes stand in for the files: serving does not look inside them."""
    poster = io.BytesIO(os.urandom(60_000)) if kind == "clip" else None
    return ItemUpload(
        kind=kind,
        file=io.BytesIO(os.urandom(size)),
        thumbnail=io.BytesIO(os.urandom(20_000)),
        poster=poster,
    )


def share(clinic: Clinic, key: str, items: list[ItemUpload]) -> tuple[Share, str]:
    created = share_create(
        clinic=clinic,
        idempotency_key=key,
        request_hash=key,
        password_hash=argon2_hash(PASSWORD),
        delete_code_hash=argon2_hash("AB7K"),
        items=items,
    )
    return created.share, created.token


def main() -> None:
    call_command("migrate", verbosity=0)
    clinic = clinic_create(name="Bench clinic")
    small, small_token = share(
        clinic, "small", [upload("clip", 50 * MB)] + [upload("still", 300 * 1024) for _ in range(6)]
    )
    _big, big_token = share(clinic, "big", [upload("clip", 50 * MB) for _ in range(6)])
    clip = small.items.get(kind="clip")
    photo = small.items.filter(kind="still").first()
    assert photo is not None
    ids = {
        "token": small_token,
        "big_token": big_token,
        "clip_id": clip.public_id,
        "photo_id": photo.public_id,
        "clip_key": clip.file_key,
        "photo_key": photo.file_key,
    }
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
