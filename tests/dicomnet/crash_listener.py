"""Helper process for the crash loop (test_crash_loop.py), not a test.

Sets Django up once, then for every line "start" on stdin forks a child that runs the real
`echoshare dicom` command on PORT, and reports "exit <status>" when that child ends (killed
by the test with SIGKILL, or stopped with SIGTERM). Forking a warm process keeps each round
fast on a small machine; the child is an ordinary separate process with its own database
connection, so a SIGKILL loses exactly what a crash would lose.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echoshare.settings")


def main(port: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    # Imported once here, not in every child: a round's listener is ready at once.
    import echoshare.dicomnet.management.commands.dicom  # noqa: F401

    for line in sys.stdin:
        if line.strip() != "start":
            continue
        connections.close_all()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            call_command("dicom", port=int(port), bind="127.0.0.1")
            sys.stdout.flush()
            os._exit(0)
        # One os.write per line: the child writes to the same pipe, lines must not mix.
        os.write(1, f"child {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(1, f"exit {status}\n".encode())


if __name__ == "__main__":
    main(sys.argv[1])
