"""Every Dutch catalogue is complete, compiled, loaded, and covers every marked string.

Staff and patients may choose Dutch (issue 7): a msgid without a Dutch msgstr shows up in
English on a Dutch page, and a fuzzy entry is left out of the compiled .mo, so it shows in
English too. The catalogues live per app (echoshare/<app>/locale) plus the project's
LOCALE_PATHS; Django merges them all, so a string may be translated in any of them.
"""

from __future__ import annotations

import ast
import gettext
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command

PACKAGE = Path(__file__).resolve().parents[1] / "echoshare"
CATALOGUES = sorted(PACKAGE.glob("**/locale/nl/LC_MESSAGES/django.po"))


@dataclass
class Entry:
    """One entry of a .po file; obsolete (#~) entries are not read."""

    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstrs: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid

    @property
    def translated(self) -> bool:
        return bool(self.msgstrs) and all(self.msgstrs) and "fuzzy" not in self.flags


def _keyword_and_text(line: str) -> tuple[str, str]:
    keyword, _, quoted = line.partition(" ")
    return keyword, ast.literal_eval(quoted)


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (header included), for checks gettext's msgfmt cannot make."""
    entries: list[Entry] = []
    current = Entry(line=1)
    field_name = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        # A reference, a flag, a msgctxt or a msgid after a msgstr starts the next entry.
        starts_entry = line.startswith(("#,", "#:", "msgctxt ", "msgid "))
        if starts_entry and current.msgstrs and field_name.startswith("msgstr"):
            entries.append(current)
            current, field_name = Entry(line=number), ""
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#:"):
            current.references.extend(line[2:].split())
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            _append(current, field_name, ast.literal_eval(line))
        else:
            field_name, text = _keyword_and_text(line)
            if field_name.startswith("msgstr"):
                current.msgstrs.append("")
            _append(current, field_name, text)
    if current.msgstrs:
        entries.append(current)
    return entries


def _append(entry: Entry, field_name: str, text: str) -> None:
    if field_name == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + text
    elif field_name == "msgid":
        entry.msgid += text
    elif field_name == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif field_name.startswith("msgstr"):
        entry.msgstrs[-1] += text
    else:
        raise AssertionError(f"unexpected .po line for field {field_name!r}")


def _messages(path: Path) -> list[Entry]:
    return [entry for entry in read_po(path) if entry.msgid]  # not the header


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_the_dutch_catalogues_are_found() -> None:
    # Guards the parametrized tests below against an empty glob passing them all.
    found = {_name(path) for path in CATALOGUES}
    assert "echoshare/locale/nl/LC_MESSAGES/django.po" in found
    assert "echoshare/clinic/staff/locale/nl/LC_MESSAGES/django.po" in found
    assert len(found) >= 6


def test_the_reader_sees_empty_fuzzy_and_plural_entries(tmp_path: Path) -> None:
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: nl\\n"\n\n'
        'msgid "done"\nmsgstr "klaar"\n\n'
        'msgid "missing"\nmsgstr ""\n\n'
        '#, fuzzy, python-format\nmsgid "guessed %(n)s"\nmsgstr "geraden %(n)s"\n\n'
        'msgctxt "menu"\nmsgid "one"\nmsgid_plural "many"\nmsgstr[0] "een"\nmsgstr[1] ""\n\n'
        '#~ msgid "obsolete"\n#~ msgstr ""\n',
        encoding="utf-8",
    )
    entries = {entry.msgid: entry for entry in _messages(po)}
    assert list(entries) == ["done", "missing", "guessed %(n)s", "one"]
    assert [msgid for msgid, entry in entries.items() if entry.translated] == ["done"]
    assert entries["one"].msgctxt == "menu" and entries["one"].msgstrs == ["een", ""]


@pytest.mark.parametrize("po", CATALOGUES, ids=_name)
def test_every_entry_has_a_dutch_text_and_none_is_fuzzy(po: Path) -> None:
    entries = _messages(po)
    assert entries, "an empty catalogue"
    assert [f"{e.msgid!r} (line {e.line})" for e in entries if not all(e.msgstrs)] == []
    assert [f"{e.msgid!r} (line {e.line})" for e in entries if "fuzzy" in e.flags] == []


@pytest.mark.parametrize("po", CATALOGUES, ids=_name)
def test_the_committed_mo_file_matches_its_po_file(po: Path) -> None:
    # Django reads only the .mo: a .po edited without `msgfmt` changes nothing on screen.
    with po.with_suffix(".mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for entry in _messages(po):
        if entry.msgid_plural is None and entry.msgctxt is None:
            assert catalogue.gettext(entry.msgid) == entry.msgstrs[0], entry.msgid


def test_a_message_has_the_same_dutch_text_in_every_catalogue() -> None:
    # Django keeps one text per msgid: which catalogue wins depends on INSTALLED_APPS order,
    # so two different texts mean one of them is silently never shown.
    texts: dict[tuple[str | None, str], set[tuple[str, ...]]] = {}
    for po in CATALOGUES:
        for entry in _messages(po):
            texts.setdefault(entry.key, set()).add(tuple(entry.msgstrs))
    assert {key: found for key, found in texts.items() if len(found) > 1} == {}


def test_django_loads_every_catalogue(settings: Any) -> None:
    # A locale folder outside LOCALE_PATHS and outside every installed app is never read.
    loaded = {Path(path).resolve() for path in settings.LOCALE_PATHS}
    loaded |= {Path(config.path, "locale").resolve() for config in apps.get_app_configs()}
    folders = {po.parents[2].resolve() for po in CATALOGUES}
    assert sorted(map(str, folders - loaded)) == []


def test_every_string_marked_for_translation_has_a_dutch_text(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """makemessages on a copy of the sources (without catalogues) lists every msgid."""
    source = tmp_path / "echoshare"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    settings.LOCALE_PATHS = [tmp_path / "locale"]  # so nothing is written to the real tree
    monkeypatch.chdir(source)
    call_command("makemessages", locale=["nl"], verbosity=0)
    extracted = _messages(tmp_path / "locale" / "nl" / "LC_MESSAGES" / "django.po")
    assert len(extracted) > 300, "makemessages found too few strings: is it reading the copy?"
    translated = {e.key for po in CATALOGUES for e in _messages(po) if e.translated}
    missing = [
        f"{e.msgid!r} ({' '.join(e.references)})" for e in extracted if e.key not in translated
    ]
    assert not missing, "no Dutch text in any catalogue for:\n" + "\n".join(missing)
