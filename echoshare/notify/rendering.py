"""Message texts from templates: `notify/<kind>.<language>.<part>` where part is
`sms.txt`, `subject.txt`, `email.txt` or `email.html`.

A clinic overrides any of them by putting a file with the same relative path in
ECHOSHARE_MESSAGE_TEMPLATES_DIR; that folder is searched first. Text parts are rendered
without HTML escaping (an `&` in a clinic name stays `&`), the HTML part with it. Dates
and times are shown in the clinic's time zone and the message's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template import Context, Engine, TemplateDoesNotExist
from django.utils import translation

from echoshare.lib.gsm7 import fold_to_gsm7, sms_segments
from echoshare.notify.errors import MessageTooLongError, TemplateMissingError
from echoshare.notify.models import Message

PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("nl", "en")
SMS_MAX_SEGMENTS = 2

# What each kind needs from the caller; `clinic_phone` and `exam_type` are optional.
REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    Message.Kind.BOOKING_CONFIRMATION: ("clinic_name", "appointment_at", "password"),
    Message.Kind.BOOKING_REMINDER: ("clinic_name", "appointment_at", "password"),
    Message.Kind.SHARE_LINK: ("clinic_name", "link", "delete_code", "expires_on"),
    Message.Kind.EXPIRY_REMINDER: ("clinic_name", "link", "expires_on"),
}
# Context values that are secrets: kept out of error texts and logs.
SECRET_KEYS = ("link", "delete_code", "password")


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str  # empty for SMS


@lru_cache(maxsize=8)
def _engine(override_dir: str, autoescape: bool) -> Engine:
    dirs = [override_dir] if override_dir else []
    return Engine(dirs=[*dirs, str(PACKAGE_TEMPLATES)], autoescape=autoescape)


def _render(name: str, context: dict[str, Any], *, html: bool = False) -> str:
    engine = _engine(settings.MESSAGE_TEMPLATES_DIR, html)
    try:
        template = engine.get_template(f"notify/{name}")
    except TemplateDoesNotExist as exc:
        raise TemplateMissingError(f"no message template notify/{name}") from exc
    return template.render(Context(context, autoescape=html))


def _check_context(kind: str, language: str, context: dict[str, Any]) -> dict[str, Any]:
    if kind not in REQUIRED_CONTEXT:
        raise ValueError(f"unknown message kind {kind!r}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown message language {language!r}: expected nl or en")
    missing = [key for key in REQUIRED_CONTEXT[kind] if context.get(key) in (None, "")]
    if missing:
        raise ValueError(f"{kind} message needs {', '.join(missing)}")
    for key in ("appointment_at",):
        if key in context and not isinstance(context[key], datetime):
            raise ValueError(f"{key} must be a datetime")
    if "expires_on" in context and not isinstance(context["expires_on"], date):
        raise ValueError("expires_on must be a date")
    return {
        "clinic_phone": "",
        "exam_type": "",
        "share_months": settings.DEFAULT_SHARE_MONTHS,
        **context,
        "language": language,
    }


def message_render(
    *, kind: str, channel: str, language: str, context: dict[str, Any]
) -> RenderedMessage:
    """Render one message; raises ValueError (or a subclass) with a clear reason."""
    full = _check_context(kind, language, context)
    stem = f"{kind}.{language}"
    with translation.override(language):
        if channel == Message.Channel.SMS:
            # Whitespace is collapsed so that templates can be written over several lines;
            # look-alikes keep an `ë` in a clinic name from tripling the segments.
            text = fold_to_gsm7(" ".join(_render(f"{stem}.sms.txt", full).split()))
            length = sms_segments(text)
            if length.segments > SMS_MAX_SEGMENTS:
                raise MessageTooLongError(
                    f"{stem} SMS takes {length.segments} {length.encoding} segments; "
                    f"at most {SMS_MAX_SEGMENTS} are sent"
                )
            return RenderedMessage(subject="", text=text, html="")
        if channel == Message.Channel.EMAIL:
            subject = " ".join(_render(f"{stem}.subject.txt", full).split())
            text = _render(f"{stem}.email.txt", full).strip() + "\n"
            html = _render(f"{stem}.email.html", full, html=True)
            return RenderedMessage(subject=subject, text=text, html=html)
    raise ValueError(f"unknown message channel {channel!r}")
