"""Staff accounts from the command line.

    echoshare staff create USERNAME --role sonographer|frontdesk|administrator [--email ...]
    echoshare staff reset-totp USERNAME

The password is asked twice on a terminal, or read from the first line of standard input
(`--password-stdin`). The command prints the TOTP provisioning URI and a QR code to scan with
an authenticator app; that secret is shown only here.
"""

from __future__ import annotations

import getpass
import io
import sys
from typing import Any

import qrcode
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.plugins.otp_totp.models import TOTPDevice

from echoshare.clinic.accounts import staff_create, staff_totp_reset
from echoshare.clinic.roles import ROLES


class Command(BaseCommand):
    help = "Create staff accounts with a role and a second factor; reset a lost second factor."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a staff account")
        create.add_argument("username")
        create.add_argument("--role", required=True, choices=ROLES)
        create.add_argument("--email", default="")
        create.add_argument("--password-stdin", action="store_true")
        create.add_argument("--no-qr", action="store_true", help="print the URI only")
        reset = sub.add_parser("reset-totp", help="replace the account's authenticator")
        reset.add_argument("username")
        reset.add_argument("--no-qr", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self._create(options)
        else:
            self._reset(options)

    def _password(self, from_stdin: bool) -> str:
        if from_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("the passwords differ")
        return first

    def _create(self, options: dict[str, Any]) -> None:
        username = options["username"]
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"a user {username!r} exists already")
        password = self._password(options["password_stdin"])
        try:
            user, device = staff_create(
                username=username, role=options["role"], password=password, email=options["email"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"created {user.get_username()} ({options['role']})")
        self._enrolment(device, options["no_qr"])

    def _reset(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        device = staff_totp_reset(user=user)  # type: ignore[arg-type]
        self.stdout.write(f"new authenticator for {user.get_username()}; old codes stop working")
        self._enrolment(device, options["no_qr"])

    def _enrolment(self, device: TOTPDevice, no_qr: bool) -> None:
        self.stdout.write("Scan this with the authenticator app (shown only now):")
        self.stdout.write(device.config_url)
        if not no_qr:
            code = qrcode.QRCode(border=2)
            code.add_data(device.config_url)
            text = io.StringIO()
            code.print_ascii(out=text, invert=True)
            self.stdout.write(text.getvalue())
