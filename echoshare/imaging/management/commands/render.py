"""`echoshare render FILE... --out DIR`: render files exactly as publishing would.

For a clinic's privacy officer trying each ultrasound machine before going live: per file it
prints the masking branch taken (regions, device rule, staff crop, needs review) and the
outputs written. Nothing is written for a file that needs review or is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from echoshare.imaging.config import render_settings
from echoshare.imaging.errors import ImageRefused
from echoshare.imaging.masking import Rect
from echoshare.imaging.models import DeviceRule
from echoshare.imaging.render import RenderResult, render_item
from echoshare.imaging.uploads import render_upload, upload_kind

BRANCH_LABELS = {
    "regions": "regions",
    "device_rule": "device rule",
    "staff_crop": "staff crop",
    "needs_review": "needs review",
}


class Command(BaseCommand):
    help = "Render DICOM files (or exported JPEG/PNG/MP4) as publishing would; print the mask."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--out", required=True, type=Path, help="folder for the outputs")
        parser.add_argument("--crop", help="a staff crop box x0,y0,x1,y1 for every file")
        parser.add_argument("--frame", type=int, help="0-based frame of a cine for the still")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            crop = Rect.parse(options["crop"]) if options["crop"] else None
        except ValueError as exc:
            raise CommandError(f"--crop: {exc}") from exc
        out: Path = options["out"]
        try:
            rules = DeviceRule.objects.specs()
        except DatabaseError as exc:
            raise CommandError(
                f"cannot read the device rules ({exc}); run `echoshare migrate`"
            ) from exc
        refused = 0
        used: set[str] = set()
        for path in options["files"]:
            target = out / _folder_name(path, used)
            try:
                result = self._render(path, target, crop=crop, frame=options["frame"], rules=rules)
            except ImageRefused as exc:
                refused += 1
                self.stdout.write(f"{path}: refused: {exc.reason}")
                continue
            self.stdout.write(self._describe(path, result))
        if refused:
            raise CommandError(f"{refused} file(s) refused")

    def _render(
        self, path: Path, target: Path, *, crop: Rect | None, frame: int | None, rules: list
    ) -> RenderResult:
        if not path.is_file():
            raise ImageRefused("no such file")
        settings = render_settings()
        try:
            upload_kind(path)
        except ImageRefused:  # not exported media: treat as DICOM
            return render_item(
                path, out_dir=target, settings=settings, rules=rules, frame=frame, crop=crop
            )
        return render_upload(path, out_dir=target, settings=settings, crop=crop)

    def _describe(self, path: Path, result: RenderResult) -> str:
        label = BRANCH_LABELS[result.branch]
        if result.branch == "needs_review":
            return f"{path}: {label}: {result.reason}; nothing written"
        lines = [f"{path}: {label}: {result.reason}; {result.mask.describe()}"]
        for kind, output in result.outputs.items():
            lines.append(f"  {kind}: {output}")
        return "\n".join(lines)


def _folder_name(path: Path, used: set[str]) -> str:
    """A folder per input, named after the input file (never after DICOM values)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem) or "item"
    name, number = base, 2
    while name in used:
        name, number = f"{base}-{number}", number + 1
    used.add(name)
    return name
