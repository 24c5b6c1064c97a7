"""`echoshare dicom`: the DICOM services in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from echoshare.dicomnet.config import DicomConfig
from echoshare.dicomnet.server import dicom_server_start, dicom_server_stop


class Command(BaseCommand):
    help = "Run the DICOM services: Verification, Modality Worklist and Storage."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, help="TCP port (default ECHOSHARE_DICOM_PORT)")
        parser.add_argument("--bind", help="address to listen on (ECHOSHARE_DICOM_BIND_ADDRESS)")
        parser.add_argument(
            "--processes",
            type=int,
            help="listener processes sharing the port (ECHOSHARE_DICOM_PROCESSES)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = DicomConfig.from_settings()
        if options["port"] is not None:
            config = dataclasses.replace(config, port=options["port"])
        if options["bind"]:
            config = dataclasses.replace(config, bind_address=options["bind"])
        processes = options["processes"] or settings.DICOM_PROCESSES
        if processes > 1 and config.port == 0:
            raise CommandError("several processes need a fixed port, not 0")

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        children = self._fork_children(processes - 1, config) if processes > 1 else []
        self._serve(config, stop, reuse_port=processes > 1, announce=True)
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)

    def _fork_children(self, count: int, config: DicomConfig) -> list[int]:
        # No thread runs yet and no connection is open: forking is safe here.
        connections.close_all()
        children = []
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                self._run_child(config)
            children.append(pid)
        return children

    def _run_child(self, config: DicomConfig) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent passes Ctrl-C on
        self._serve(config, stop, reuse_port=True, announce=False)
        os._exit(0)

    def _serve(
        self, config: DicomConfig, stop: threading.Event, *, reuse_port: bool, announce: bool
    ) -> None:
        server = dicom_server_start(config=config, reuse_port=reuse_port)
        if announce:
            host, port = server.server_address[:2]
            self.stdout.write(f"DICOM listening on {host}:{port}")
            self.stdout.flush()
        while not stop.wait(0.5):
            pass
        dicom_server_stop(server, grace=config.dimse_timeout)
        connections.close_all()
