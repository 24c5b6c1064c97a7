"""System checks for the messages setup (CONVENTIONS 2): provider credentials, the SMS
sender, and SMS templates (including a clinic's overrides) that would not fit."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from echoshare.lib.gsm7 import sms_segments
from echoshare.notify.errors import TemplateMissingError
from echoshare.notify.models import Message
from echoshare.notify.rendering import LANGUAGES, message_render

# A long but realistic clinic name and link (DESIGN: 22-character token), for measuring.
SAMPLE_CLINIC_NAME = "Verloskundigenpraktijk Utrecht"
SAMPLE_TOKEN = "AbCdEfGhIjKlMnOpQrStU_"  # noqa: S105 - a sample for measuring
SMS_KINDS = (Message.Kind.SHARE_LINK, Message.Kind.EXPIRY_REMINDER)

_REQUIRED_SETTINGS = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    "messagebird": ("MESSAGEBIRD_ACCESS_KEY",),
    "http": ("SMS_HTTP_URL",),
}


def sample_context(*, portal_url: str | None = None) -> dict[str, Any]:
    base = (portal_url or settings.PORTAL_URL).rstrip("/")
    return {
        "clinic_name": SAMPLE_CLINIC_NAME,
        "link": f"{base}/s/{SAMPLE_TOKEN}",
        "delete_code": "K7QX",
        "expires_on": date(2026, 12, 31),  # a long month name in both languages
    }


@register()
def check_sms_provider(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for name in _REQUIRED_SETTINGS.get(settings.SMS_BACKEND, ()):
        if not getattr(settings, name):
            problems.append(
                Error(
                    f"ECHOSHARE_SMS_BACKEND={settings.SMS_BACKEND} needs ECHOSHARE_{name}.",
                    id="notify.E001",
                )
            )
    sender = settings.SMS_FROM
    if not (
        re.fullmatch(r"\+[1-9][0-9]{6,14}", sender) or re.fullmatch(r"[A-Za-z0-9 ]{1,11}", sender)
    ):
        problems.append(
            Error(
                f"ECHOSHARE_SMS_FROM={sender!r} is neither an E.164 number nor at most 11 "
                "letters and digits.",
                id="notify.E002",
            )
        )
    return problems


@register()
def check_sms_templates(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for kind in SMS_KINDS:
        for language in LANGUAGES:
            try:
                rendered = message_render(
                    kind=kind, channel="sms", language=language, context=sample_context()
                )
            except (TemplateMissingError, ValueError) as exc:
                problems.append(Error(f"SMS template {kind}.{language}: {exc}", id="notify.E003"))
                continue
            length = sms_segments(rendered.text)
            if length.segments > 1:
                problems.append(
                    Warning(
                        f"SMS {kind}.{language} takes {length.segments} {length.encoding} "
                        f"segments with a {len(SAMPLE_CLINIC_NAME)}-character clinic name.",
                        hint="Shorten the template, or the link (ECHOSHARE_PORTAL_URL).",
                        id="notify.W001",
                    )
                )
    return problems


@register(deploy=True)
def check_real_delivery(app_configs: Any, **kwargs: Any) -> list[Any]:
    """The demo's file outboxes deliver nothing: fine for trials, wrong for patients."""
    problems: list[Any] = []
    if not settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
        problems.append(
            Warning(
                "ECHOSHARE_EMAIL_BACKEND is not smtp: e-mails to patients are not sent.",
                hint="Set ECHOSHARE_EMAIL_BACKEND=smtp and the ECHOSHARE_SMTP_* settings.",
                id="notify.W002",
            )
        )
    if settings.SMS_BACKEND in ("file", "console"):
        problems.append(
            Warning(
                f"ECHOSHARE_SMS_BACKEND={settings.SMS_BACKEND}: SMS to patients are not sent.",
                hint="Choose twilio, messagebird or http, or send links by e-mail only.",
                id="notify.W003",
            )
        )
    return problems
