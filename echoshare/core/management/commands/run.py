"""`echoshare run`: migrate, then run web, worker, scheduler (and the DICOM listener) as
child processes; restart a child that crashes; stop them all on SIGTERM/SIGINT.

The children run in their own process group so that Ctrl+C reaches only this supervisor,
which then stops each child in order with SIGTERM (a worker finishes or gives back its job),
and SIGKILL after a grace period.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import connections

logger = logging.getLogger("echoshare.run")

# A child that ran this long before crashing starts again at once; one that keeps crashing
# waits 1, 2, 4 ... up to MAX_BACKOFF seconds between starts.
HEALTHY_AFTER = 60.0
MAX_BACKOFF = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, process_group=0)
        self.started_at = time.monotonic()
        logger.info("started %s (pid %d)", self.name, self.process.pid)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def schedule_restart(self, now: float) -> None:
        self.failures = 0 if now - self.started_at > HEALTHY_AFTER else self.failures + 1
        delay = min(MAX_BACKOFF, 2.0 ** (self.failures - 1)) if self.failures else 0.0
        self.restart_at = now + delay
        self.process = None
        logger.warning("%s exited; starting it again in %.0f s", self.name, delay)


def _children(names: list[str]) -> list[Child]:
    return [Child(name, [sys.executable, "-m", "echoshare.cli", name]) for name in names]


def default_processes() -> list[str]:
    names = ["web", "worker", "scheduler"]
    # The DICOM listener belongs to the clinic tier; it joins once its command exists.
    if settings.SERVES_CLINIC and "dicom" in get_commands():
        names.append("dicom")
    return names


class Command(BaseCommand):
    help = "Run web, worker, scheduler (and dicom) for a single-machine installation."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--skip-migrate", action="store_true", help="do not run migrate")
        parser.add_argument(
            "--only", help="comma-separated subset of web,worker,scheduler,dicom to run"
        )

    def handle(self, *args: Any, skip_migrate: bool, only: str | None, **options: Any) -> None:
        if not skip_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        connections.close_all()  # the children open their own
        self.run_processes(only.split(",") if only else default_processes())

    def run_processes(self, names: list[str]) -> None:
        """Start the children, keep them running until SIGTERM/SIGINT, stop them."""
        children = _children(names)
        stopping: list[int] = []

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        for child in children:
            child.start()
        self.started()
        self.supervise(children, stopping)
        self.stop(children)

    def started(self) -> None:
        """Called once the children have been started (the demo hooks in here)."""

    def supervise(self, children: list[Child], stopping: list[int]) -> None:
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.process is None:
                    if now >= child.restart_at:
                        child.start()
                elif child.exited() is not None:
                    child.schedule_restart(now)
            time.sleep(0.2)

    def stop(self, children: list[Child]) -> None:
        running = [c for c in children if c.process is not None and c.exited() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.JOB_SHUTDOWN_GRACE_SECONDS + 15
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time: killing it", child.name)
                child.process.kill()
                child.process.wait()
        logger.info("all processes stopped")
