"""C4 and B1: the generators' alphabets and lengths, and the guessing bounds they give."""

from __future__ import annotations

import base64
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from echoshare.lib.secrets import (
    DELETE_CODE_ALPHABET,
    PASSWORD_ALPHABET,
    new_delete_code,
    new_password,
    new_token,
    normalize_delete_code,
)
from echoshare.portal import guessing

LOOK_ALIKES = set("0O1Il")


def test_guessing_a_password_within_a_shares_life_is_below_one_in_ten_billion() -> None:
    # The hard lock caps all wrong attempts at 50 until the clinic resets (C1).
    assert len(PASSWORD_ALPHABET) == 56
    assert guessing.guess_probability_password() == 50 / 56**8
    assert guessing.guess_probability_password() < 1e-10


def test_guessing_a_delete_code_is_below_one_in_a_hundred_thousand() -> None:
    assert len(DELETE_CODE_ALPHABET) >= 30
    assert guessing.guess_probability_delete_code() == 5 / 32**4
    assert guessing.guess_probability_delete_code() < 1e-5


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**6))
def test_generated_passwords_use_the_documented_alphabet(_: int) -> None:
    password = new_password()
    assert len(password) == 8
    assert set(password) <= set(PASSWORD_ALPHABET)
    assert not set(password) & LOOK_ALIKES


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**6))
def test_generated_delete_codes_use_the_documented_alphabet(_: int) -> None:
    code = new_delete_code()
    assert len(code) == 4
    assert set(code) <= set(DELETE_CODE_ALPHABET)
    assert not set(code) & LOOK_ALIKES
    assert normalize_delete_code(code.lower()) == code


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=10**6))
def test_link_tokens_carry_128_random_bits(_: int) -> None:
    token = new_token()
    assert len(token) == 22
    assert len(base64.urlsafe_b64decode(token + "==")) * 8 >= 128


def test_the_alphabets_have_no_look_alikes() -> None:
    assert not set(PASSWORD_ALPHABET) & LOOK_ALIKES
    assert not set(DELETE_CODE_ALPHABET) & LOOK_ALIKES
    assert math.log2(len(PASSWORD_ALPHABET) ** 8) > 46
