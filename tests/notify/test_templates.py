"""Message texts: SMS length, both languages, what each message carries, clinic overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from echoshare.lib.gsm7 import GSM7, GSM7_BASIC, sms_segments
from echoshare.notify.errors import MessageTooLongError, TemplateMissingError
from echoshare.notify.rendering import message_render
from tests.notify.conftest import (
    CLINIC,
    DELETE_CODE,
    LINK,
    PASSWORD,
    booking_context,
    link_context,
)

BOOKING_KINDS = ("booking_confirmation", "booking_reminder")
LINK_KINDS = ("share_link", "expiry_reminder")


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", LINK_KINDS)
def test_it_fits_each_sms_in_one_gsm7_segment_with_a_long_clinic_name(
    kind: str, language: str
) -> None:
    assert len(CLINIC) == 30 and len(LINK) == len("https://portal.example.nl/s/") + 22
    text = message_render(kind=kind, channel="sms", language=language, context=link_context()).text
    assert sms_segments(text) == (GSM7, 1), f"{len(text)} characters: {text}"
    assert LINK in text
    assert text.count("\n") == 0


@pytest.mark.parametrize("language", ["nl", "en"])
def test_it_puts_clinic_link_and_delete_code_in_the_link_sms(language: str) -> None:
    text = message_render(
        kind="share_link", channel="sms", language=language, context=link_context()
    ).text
    assert text.startswith(f"{CLINIC}: ")
    assert f"{LINK} " in text  # a space after the link: phones end the URL there
    assert text.endswith(DELETE_CODE)
    assert ("Verwijdercode" in text) == (language == "nl")
    assert ("Delete code" in text) == (language == "en")


def test_it_folds_accents_outside_gsm7_so_the_sms_stays_one_segment() -> None:
    context = link_context(clinic_name="Echopraktijk Zoë \u2019t Hart")
    text = message_render(kind="share_link", channel="sms", language="nl", context=context).text
    assert text.startswith("Echopraktijk Zoe 't Hart: ")
    assert sms_segments(text) == (GSM7, 1)


def test_it_uses_two_ucs2_segments_when_nothing_can_be_folded() -> None:
    context = link_context(clinic_name="Echo 超音波")
    text = message_render(kind="share_link", channel="sms", language="en", context=context).text
    assert "超音波" in text
    assert sms_segments(text) == ("ucs2", 2)


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", BOOKING_KINDS)
def test_it_carries_the_password_in_booking_mails_and_no_link_or_code(
    kind: str, language: str
) -> None:
    rendered = message_render(
        kind=kind, channel="email", language=language, context=booking_context()
    )
    for part in (rendered.text, rendered.html):
        assert PASSWORD in part
        assert CLINIC in part
        assert "030 123 45 67" in part
    assert PASSWORD not in rendered.subject
    # The appointment in the clinic's time zone (13:30 UTC is 14:30 in Amsterdam, winter).
    assert "14:30" in rendered.text and "14:30" in rendered.html
    assert ("december" in rendered.text) == (language == "nl")
    assert ("December" in rendered.text) == (language == "en")
    assert ("donderdag" in rendered.text) == (language == "nl")  # 3 Dec 2026 is a Thursday
    # What happens after the exam: a link comes, this password opens it, two months, delete.
    assert ("2 maanden" in rendered.text) if language == "nl" else ("2 months" in rendered.text)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_it_keeps_the_password_out_of_the_link_mail(language: str) -> None:
    context = link_context(password=PASSWORD)  # even when a caller passes it by mistake
    rendered = message_render(
        kind="share_link", channel="email", language=language, context=context
    )
    for part in (rendered.text, rendered.html, rendered.subject):
        assert PASSWORD not in part
    for part in (rendered.text, rendered.html):
        assert LINK in part and DELETE_CODE in part
    assert f'href="{LINK}"' in rendered.html
    assert ("26 januari 2027" if language == "nl" else "26 January 2027") in rendered.text
    assert "<html" in rendered.html and "<html" not in rendered.text


def test_it_escapes_html_but_not_plain_text() -> None:
    context = link_context(clinic_name="Echo & Zwanger <b>")
    rendered = message_render(kind="share_link", channel="email", language="en", context=context)
    assert "Echo &amp; Zwanger &lt;b&gt;" in rendered.html
    assert "<b>" not in rendered.html.replace("<body", "")
    assert "Echo & Zwanger <b>" in rendered.text
    assert rendered.subject == "Your scan images from Echo & Zwanger <b>"
    sms = message_render(kind="share_link", channel="sms", language="en", context=context)
    assert sms.text.startswith("Echo & Zwanger <b>: ")


@pytest.mark.parametrize(
    ("kind", "context", "missing"),
    [
        ("share_link", link_context(delete_code=""), "delete_code"),
        ("booking_confirmation", booking_context(password=None), "password"),
        ("expiry_reminder", {"clinic_name": CLINIC}, "link, expires_on"),
    ],
)
def test_it_refuses_a_context_without_what_the_kind_needs(
    kind: str, context: dict[str, Any], missing: str
) -> None:
    with pytest.raises(ValueError, match=missing):
        message_render(kind=kind, channel="email", language="nl", context=context)


def test_it_refuses_unknown_language_and_kind_and_booking_sms() -> None:
    with pytest.raises(ValueError, match="language"):
        message_render(kind="share_link", channel="sms", language="de", context=link_context())
    with pytest.raises(ValueError, match="kind"):
        message_render(kind="invoice", channel="sms", language="nl", context=link_context())
    with pytest.raises(TemplateMissingError, match=r"booking_confirmation\.nl\.sms\.txt"):
        message_render(
            kind="booking_confirmation", channel="sms", language="nl", context=booking_context()
        )


def test_a_clinic_override_takes_precedence_over_the_package_text(
    settings: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "texts" / "notify"
    folder.mkdir(parents=True)
    (folder / "share_link.nl.sms.txt").write_text(
        "Beelden van {{ clinic_name }}:\n{{ link }}\ncode {{ delete_code }}\n"
    )
    settings.MESSAGE_TEMPLATES_DIR = str(tmp_path / "texts")
    nl = message_render(kind="share_link", channel="sms", language="nl", context=link_context())
    assert nl.text == f"Beelden van {CLINIC}: {LINK} code {DELETE_CODE}"
    # Parts that are not overridden still come from the package.
    en = message_render(kind="share_link", channel="sms", language="en", context=link_context())
    assert "Delete code" in en.text


def test_an_override_that_makes_the_sms_too_long_is_refused(settings: Any, tmp_path: Path) -> None:
    folder = tmp_path / "notify"
    folder.mkdir()
    (folder / "share_link.en.sms.txt").write_text("{{ link }} " + "blah " * 70)
    settings.MESSAGE_TEMPLATES_DIR = str(tmp_path)
    with pytest.raises(MessageTooLongError, match="3 gsm7 segments"):
        message_render(kind="share_link", channel="sms", language="en", context=link_context())


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    name=st.text(alphabet=sorted(GSM7_BASIC - {"\n", "\r"}), min_size=1, max_size=30).filter(
        str.strip
    ),
    language=st.sampled_from(["nl", "en"]),
)
def test_any_gsm7_clinic_name_up_to_30_characters_fits_one_segment(
    name: str, language: str
) -> None:
    text = message_render(
        kind="share_link", channel="sms", language=language, context=link_context(clinic_name=name)
    ).text
    assert sms_segments(text) == (GSM7, 1)
