"""`echoshare demo`: the embedded default in one command.

Prepares the data folder (ECHOSHARE_DATA_DIR, default ./echoshare-data), migrates, then runs
everything `echoshare run` runs. The demo's content is two hooks, below:

- `prepare_content()` runs before the processes start (clinic, staff login, portal API key);
- `after_start()` runs in a thread once the web server answers /healthz (send the sample
  exam through the DICOM listener, print the patient link, password and delete code).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from echoshare.core import demo_content
from echoshare.core.management.commands.run import Command as RunCommand
from echoshare.core.management.commands.run import default_processes

WEB_WAIT_SECONDS = 120


def prepare_content(command: DemoCommand) -> None:
    """Before the processes start: portal clinic and key, staff login, a booked exam."""
    command.access = demo_content.prepare(command.say)


def after_start(command: DemoCommand) -> None:
    """The exam through DICOM, crops, publishing; then the messages and the logins."""
    say, access = command.say, command.access
    demo_content.run_exam_and_publish(access, say)
    say("")
    say(f"Staff login: http://{settings.HTTP_HOST}:{settings.HTTP_PORT}/staff/login/")
    say(f"  user:         {demo_content.DEMO_STAFF_USER}")
    say(f"  password:     {access.staff_password}")
    say(f"  authenticator (TOTP, add to an app): {access.totp_uri}")
    say("")
    say("Stop with Ctrl-C.")


def _web_answers() -> bool:
    host = "127.0.0.1" if settings.HTTP_HOST in ("0.0.0.0", "::") else settings.HTTP_HOST  # noqa: S104
    url = f"http://{host}:{settings.HTTP_PORT}/healthz"
    if ":" in host:
        url = f"http://[{host}]:{settings.HTTP_PORT}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
            return bool(response.status == 200)
    except OSError:
        return False


class DemoCommand(RunCommand):
    help = "Run the embedded demo: SQLite and local folders, all processes, sample content."
    access = demo_content.DemoAccess()

    def add_arguments(self, parser: Any) -> None:
        pass

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.ROLE != "all":
            raise CommandError("the demo runs both tiers in one place: ECHOSHARE_ROLE=all")
        for folder in (
            settings.DATA_DIR,
            settings.ARCHIVE_DIR,
            settings.PORTAL_MEDIA_DIR,
            settings.STATIC_ROOT,
        ):
            Path(folder).mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"echoshare demo: data in {settings.DATA_DIR}")
        call_command("migrate", interactive=False, verbosity=0)
        prepare_content(self)
        connection.close()
        self.run_processes(default_processes())

    def started(self) -> None:
        threading.Thread(target=self._after_start, name="demo-after-start", daemon=True).start()

    def _after_start(self) -> None:
        try:
            deadline = time.monotonic() + WEB_WAIT_SECONDS
            while not _web_answers():
                if time.monotonic() > deadline:
                    self.stderr.write("the web server did not start; see the messages above")
                    return
                time.sleep(0.5)
            self.stdout.write(f"web: http://{settings.HTTP_HOST}:{settings.HTTP_PORT}/")
            after_start(self)
        finally:
            connection.close()


Command = DemoCommand
