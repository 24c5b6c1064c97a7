"""Run inside a private mount namespace whose ARCHIVE_DIR is a tiny tmpfs (see
test_full_disk.py): store a file too big for it, then a small one; print what happened."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echoshare.settings")
    import django

    django.setup()
    from django.conf import settings

    from echoshare.archive.services import IngestOrigin, IngestRefused, instance_store

    root = Path(settings.ARCHIVE_DIR)
    origin = IngestOrigin(source="import")

    def listing() -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    report: dict[str, object] = {}
    try:
        instance_store(path=Path(sys.argv[1]), origin=origin)
        report["big"] = "stored"
    except IngestRefused as exc:
        report["big"] = [exc.status, exc.reason]
    report["after_big"] = listing()
    report["small_created"] = instance_store(path=Path(sys.argv[2]), origin=origin).created
    report["after_small"] = listing()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
