"""`echoshare scheduler`: enqueue periodic jobs; one active, others stand by."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from echoshare.jobs.scheduler import Scheduler


class Command(BaseCommand):
    help = "Enqueue the periodic jobs when due (exactly one scheduler is active at a time)."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        Scheduler().run(stop)
