"""Show how long each SMS template renders with a long clinic name and the real portal URL:
for a clinic that overrides the texts (ECHOSHARE_MESSAGE_TEMPLATES_DIR)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from echoshare.lib.gsm7 import sms_segments
from echoshare.notify.checks import SMS_KINDS, sample_context
from echoshare.notify.rendering import LANGUAGES, message_render


class Command(BaseCommand):
    help = "Render every SMS template with sample values and print its length in segments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic-name", help="your clinic's name as it appears in SMS")

    def handle(self, *args: Any, **options: Any) -> None:
        context = sample_context()
        if options["clinic_name"]:
            context["clinic_name"] = options["clinic_name"]
        for kind in SMS_KINDS:
            for language in LANGUAGES:
                text = message_render(
                    kind=kind, channel="sms", language=language, context=context
                ).text
                length = sms_segments(text)
                self.stdout.write(
                    f"{kind}.{language}: {len(text)} characters, {length.encoding}, "
                    f"{length.segments} segment(s)\n  {text}"
                )
