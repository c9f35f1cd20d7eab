from hypothesis import given
from hypothesis import strategies as st

from ecomflow import looks_like_card_number
from ecomflow._sensitive import find_card_number


def luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:  # these are doubled once the check digit is appended
            value = value * 2 - 9 if value * 2 > 9 else value * 2
        total += value
    return str((10 - total % 10) % 10)


card_numbers = (
    st.integers(12, 18)
    .flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
    .map(lambda body: body + luhn_check_digit(body))
)


@given(card_numbers, st.sampled_from(["", " ", "-"]))
def test_every_luhn_valid_number_is_caught_in_any_grouping(number, separator):
    grouped = separator.join(number[i : i + 4] for i in range(0, len(number), 4))
    assert looks_like_card_number(grouped)
    assert looks_like_card_number(f"card: {grouped}, thanks")
    assert find_card_number({"a": "ok", "b": {"c": [grouped]}}) == "b.c[0]"


@given(card_numbers)
def test_a_wrong_check_digit_is_not_a_card_number(number):
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not looks_like_card_number(wrong)


@given(
    st.text("0123456789", min_size=1, max_size=12) | st.text("0123456789", min_size=20, max_size=25)
)
def test_too_short_or_too_long_digit_runs_pass(digits):
    assert not looks_like_card_number(digits)


def test_tokens_and_last_four_pass():
    assert find_card_number({"token": "tok_abc", "last4": "4242", "n": 5, "x": None}) is None
