"""The `echoshare` console script: a thin wrapper around Django's management commands.

`echoshare demo`, `echoshare run`, `echoshare worker`, `echoshare archive verify` ... are all
management commands; anything Django knows (`migrate`, `createsuperuser`, `check --deploy`)
works too.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echoshare.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    args[0] = "echoshare"
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
