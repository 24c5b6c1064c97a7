"""The Dutch catalogue: complete, and the committed .mo matches the .po."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

from django.utils import translation

LOCALE = Path(__file__).resolve().parents[2] / "echoshare" / "locale" / "nl" / "LC_MESSAGES"
_ENTRY = re.compile(r'^((?:#.*\n)*)msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', re.MULTILINE)


def _po_entries() -> list[tuple[str, str, str]]:
    """(flags/comments, msgid, msgstr) of every entry but the header."""
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    entries = []
    for comments, msgid, msgstr in _ENTRY.findall(text):
        key = "".join(ast.literal_eval(line) for line in msgid.splitlines())
        value = "".join(ast.literal_eval(line) for line in msgstr.splitlines())
        if key:
            entries.append((comments, key, value))
    return entries


def test_every_dutch_message_is_translated_and_none_is_fuzzy() -> None:
    entries = _po_entries()
    assert len(entries) > 30
    assert [key for _c, key, value in entries if not value] == []
    assert [key for comments, key, _v in entries if "fuzzy" in comments] == []


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with (LOCALE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for _comments, key, value in _po_entries():
        assert catalogue.gettext(key) == value, key


def test_django_serves_the_dutch_strings() -> None:
    with translation.override("nl"):
        assert translation.gettext("Verify password") == "Wachtwoord controleren"
        assert translation.gettext("Delete") == "Verwijderen"
