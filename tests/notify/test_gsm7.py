from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from echoshare.lib.gsm7 import GSM7, UCS2, fold_to_gsm7, is_gsm7, sms_segments


def test_it_fits_160_basic_characters_in_one_segment() -> None:
    assert sms_segments("a" * 160) == (GSM7, 1)
    assert sms_segments("a" * 161) == (GSM7, 2)


def test_it_splits_long_gsm7_text_in_153_septet_parts() -> None:
    assert sms_segments("a" * 306) == (GSM7, 2)
    assert sms_segments("a" * 307) == (GSM7, 3)


def test_it_counts_extension_characters_as_two_septets() -> None:
    assert sms_segments("€" * 80) == (GSM7, 1)
    assert sms_segments("€" * 81) == (GSM7, 2)
    assert sms_segments("[" + "a" * 159) == (GSM7, 2)


def test_it_never_splits_an_escape_pair_across_segments() -> None:
    # 306 septets fit two parts of 153, but not when the pair would straddle them: it
    # moves whole to the second part (152 | 2 + 152), which then overflows into a third.
    assert sms_segments("a" * 152 + "€" + "a" * 152) == (GSM7, 3)
    assert sms_segments("a" * 151 + "€" + "a" * 153) == (GSM7, 2)


def test_it_falls_back_to_ucs2_for_characters_outside_gsm7() -> None:
    assert not is_gsm7("Zoë")
    assert sms_segments("Zoë" + "a" * 67) == (UCS2, 1)
    assert sms_segments("Zoë" + "a" * 68) == (UCS2, 2)
    assert sms_segments("ë" * 134) == (UCS2, 2)
    assert sms_segments("ë" * 135) == (UCS2, 3)


def test_it_counts_astral_characters_as_two_ucs2_units_kept_whole() -> None:
    assert sms_segments("😀" * 35) == (UCS2, 1)
    assert sms_segments("😀" * 36) == (UCS2, 2)
    assert sms_segments("a" + "😀" * 33 + "a" * 67) == (UCS2, 2)  # 67 units, then 67 more
    assert sms_segments("a" * 66 + "😀" + "a" * 66) == (UCS2, 3)  # the pair moves whole


def test_it_accepts_the_dutch_letters_in_gsm7_and_greek_capitals() -> None:
    assert is_gsm7("é è à ä ö ü ÄÖÜ ΔΦΓΛΩΠΨΣΘΞ @£$¥ ¡¿ §")
    assert not is_gsm7("\u2019")  # a curly apostrophe from a word processor forces UCS-2


@given(st.text(max_size=600))
def test_it_never_reports_fewer_segments_for_longer_text(text: str) -> None:
    encoding, segments = sms_segments(text)
    assert segments >= 1
    assert sms_segments(text + "a")[1] >= segments
    units = sum(2 if ch in "\f^{}\\[~]|€" else 1 for ch in text) if encoding == GSM7 else None
    if units is not None and units <= 160:
        assert segments == 1


def test_it_folds_typographic_and_accented_characters_to_gsm7_lookalikes() -> None:
    assert fold_to_gsm7("Zoë\u2019s \u201cecho\u201d \u2013 café") == 'Zoe\'s "echo" - café'
    assert fold_to_gsm7("Ünal Çelik Øre") == "Ünal Çelik Øre"  # already GSM-7: unchanged
    assert fold_to_gsm7("Echo 超音波 😀") == "Echo 超音波 😀"  # no look-alike: kept


@given(st.text(max_size=400).filter(lambda text: "\u2026" not in text))
def test_folding_never_adds_segments(text: str) -> None:
    # (An ellipsis becomes three dots: the one character that grows when folded.)
    assert sms_segments(fold_to_gsm7(text)).segments <= sms_segments(text).segments
