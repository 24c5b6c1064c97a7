"""Phone numbers to E.164, e-mail addresses checked, dates read in both notations."""

from __future__ import annotations

import datetime as dt

import pytest

from echoshare.clinic.booking_input import (
    normalize_email,
    normalize_phone,
    parse_bool,
    parse_date,
    parse_datetime,
)


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("06-12345678", "+31612345678"),
        ("06 1234 5678", "+31612345678"),
        ("+31 6 12345678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("020-1234567", "+31201234567"),
        ("+32 470 12 34 56", "+32470123456"),
        ("", ""),
    ],
)
def test_it_normalizes_phone_numbers_to_e164(typed, e164):
    assert normalize_phone(typed) == e164


@pytest.mark.parametrize("bad", ["12", "06-123", "phone", "+31 6 1234567890123", "06-1234567a"])
def test_it_refuses_impossible_phone_numbers(bad):
    with pytest.raises(ValueError, match="phone number"):
        normalize_phone(bad)


def test_it_checks_e_mail_addresses_and_lowercases_the_domain():
    assert normalize_email(" Anna.de.Vries@Example.NL ") == "Anna.de.Vries@example.nl"
    for bad in ("anna", "anna@", "anna@example", "a b@example.nl", "anna@@example.nl"):
        with pytest.raises(ValueError, match="e-mail"):
            normalize_email(bad)


def test_it_reads_iso_and_dutch_dates():
    assert parse_date("1990-03-14") == dt.date(1990, 3, 14)
    assert parse_date("14-03-1990") == dt.date(1990, 3, 14)
    with pytest.raises(ValueError):
        parse_date("03/14/1990")


def test_a_time_without_offset_is_in_the_clinic_time_zone(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    assert parse_datetime("2026-07-01T09:30").utcoffset() == dt.timedelta(hours=2)
    assert parse_datetime("2026-07-01T09:30+00:00").utcoffset() == dt.timedelta(0)


def test_yes_and_no_in_dutch_and_english():
    assert parse_bool("ja") and parse_bool("Yes") and parse_bool("1")
    assert not (parse_bool("nee") or parse_bool("") or parse_bool("no"))
    with pytest.raises(ValueError):
        parse_bool("misschien")
