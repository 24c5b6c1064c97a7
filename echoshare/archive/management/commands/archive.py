"""`echoshare archive verify | purge [--dry-run] | export STUDY --out FILE.zip`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from echoshare.archive.export import ExportFailed, study_export
from echoshare.archive.fixity import archive_verify
from echoshare.archive.models import Study
from echoshare.archive.retention import archive_purge


class Command(BaseCommand):
    help = "Check (verify), purge after retention, or export the archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="staff user name recorded in the audit log")
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("verify", help="re-hash every file; report missing/changed/unindexed")
        purge = actions.add_parser(
            "purge", help="remove studies and exported media past their exam's retention"
        )
        purge.add_argument("--dry-run", action="store_true", help="only list what would go")
        export = actions.add_parser("export", help="write a study's DICOM files as a zip")
        export.add_argument("study", help="StudyInstanceUID or the study's key")
        export.add_argument("--out", required=True, type=Path, help="the zip file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options.get("user"))
        action = options["action"]
        if action == "verify":
            self._verify(user)
        elif action == "purge":
            self._purge(user, dry_run=options["dry_run"])
        else:
            self._export(user, options["study"], options["out"])

    def _user(self, username: str | None) -> Any:
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        return user

    def _verify(self, user: Any) -> None:
        run = archive_verify(user=user, source="cli")
        for problem in run.problems:
            self.stdout.write(f"{problem['problem']:10} {problem['path']}")
        self.stdout.write(
            f"checked {run.checked}, missing {run.missing}, changed {run.changed}, "
            f"unindexed {run.unindexed}"
        )
        if not run.ok:
            raise CommandError("the archive does not verify")

    def _purge(self, user: Any, *, dry_run: bool) -> None:
        report = archive_purge(dry_run=dry_run, user=user)
        for row in report.studies:
            exam = f"  exam {row['exam']}" if row["exam"] else ""
            self.stdout.write(
                f"{row['study']}{exam}  retained until {row['retain_until']}  "
                f"{row['files']} file(s)"
            )
        for row in report.media:
            self.stdout.write(
                f"{row['media']}  exam {row['exam']}  retained until {row['retain_until']}  "
                "exported media"
            )
        verb = "would remove" if dry_run else "removed"
        self.stdout.write(
            f"{verb} {len(report.studies)} study(ies), {report.files} file(s), "
            f"{len(report.media)} exported media file(s)"
        )

    def _export(self, user: Any, reference: str, out: Path) -> None:
        study = Study.objects.filter(Q(study_instance_uid=reference) | Q(key=reference)).first()
        if study is None:
            raise CommandError(f"no archived study {reference!r}")
        if out.exists():
            raise CommandError(f"{out} exists already")
        try:
            count = study_export(study=study, out=out, user=user, source="cli")
        except ExportFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"exported {count} file(s) to {out}")
