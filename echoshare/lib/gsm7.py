"""How many SMS segments a text takes (3GPP TS 23.038 GSM-7, with UCS-2 fallback).

A text made only of GSM-7 characters is sent in 7-bit septets: 160 in one segment, 153 per
segment once it is split (the rest carries the concatenation header). Characters of the
extension table (such as `€`, `[`, `{`) take two septets (escape + character), and an escape
pair is never split across segments. Any other character forces UCS-2 for the whole text:
70 UTF-16 code units in one segment, 67 per segment once split, surrogate pairs kept whole.
Pure functions, no Django.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7 = "gsm7"
UCS2 = "ucs2"

# Typographic characters word processors put in texts, and their GSM-7 look-alikes.
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\t": " ",
    }
)

_SINGLE = {GSM7: 160, UCS2: 70}
_MULTI = {GSM7: 153, UCS2: 67}


class SmsLength(NamedTuple):
    encoding: str  # "gsm7" or "ucs2"
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def fold_to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 by a GSM-7 look-alike where one exists (curly quotes,
    dashes, `ë` -> `e`), so that one such character does not turn the whole SMS into UCS-2
    and more than double its segments. Characters with no look-alike are kept."""
    folded = []
    for ch in text.translate(_LOOKALIKES):
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            folded.append(ch)
            continue
        bare = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        folded.append(bare if bare and is_gsm7(bare) else ch)
    return "".join(folded)


def _units(text: str, encoding: str) -> list[int]:
    """The size of each character in the encoding's units (septets or UTF-16 code units)."""
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_segments(text: str) -> SmsLength:
    """The encoding a phone would use for `text` and the number of segments it takes."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    units = _units(text, encoding)
    if sum(units) <= _SINGLE[encoding]:
        return SmsLength(encoding, 1)
    capacity = _MULTI[encoding]
    segments, used = 1, 0
    for size in units:
        if used + size > capacity:  # an escape pair or surrogate pair starts a new segment
            segments, used = segments + 1, 0
        used += size
    return SmsLength(encoding, segments)
