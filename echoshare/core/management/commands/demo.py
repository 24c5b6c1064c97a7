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
from django.db import connection

from echoshare.core import demo_content
from echoshare.core.management.commands.run import Command as RunCommand
from echoshare.core.management.commands.run import default_processes

WEB_WAIT_SECONDS = 120


def prepare_content(command: DemoCommand) -> None:
    """The demo's data before the processes start: clinic, API key, staff login."""
    command.access = demo_content.prepare(command.say)


def after_start(command: DemoCommand) -> None:
    """Send the sample exam through DICOM, publish a share through the API, print access."""
    say, access = command.say, command.access
    if settings.SERVES_CLINIC and "dicom" in default_processes():
        sent = demo_content.send_sample_exam(say)
        say(
            f"DICOM: {sent} sample images stored through the listener on port "
            f"{settings.DICOM_PORT} (AE titles {settings.DICOM_ARCHIVE_AE}, "
            f"{settings.DICOM_PATIENT_AE})"
        )
    if settings.SERVES_PORTAL:
        share = demo_content.publish_demo_share(access.api_key)
        say("")
        say("Patient link (open it in a browser):")
        say(f"  {share.url}")
        say(f"  password:     {share.password}")
        say(f"  delete code:  {share.delete_code}")
    if settings.SERVES_CLINIC:
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
