import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomflow import looks_like_card_number
from ecomflow._sensitive import CARD_PROBLEM, find_card_number, find_sensitive, freeze_scanned


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


SEPARATORS = [" ", "-", ".", "/", "  ", "\t", "\u00a0", "\u200b", "\u3000", " - ", "_", ":"]
SCRIPTS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "०१२३४५६७८९", "۰۱۲۳۴۵۶۷۸۹"]


@given(
    card_numbers,
    st.integers(3, 6),
    st.sampled_from(SEPARATORS),
    st.sampled_from(SCRIPTS),
    st.sampled_from(["", " 123", " 1234", "  cvv 123"]),
    st.sampled_from(["", "12 ", "order 12 qty ", "卡号：", "no. 7 "]),
)
def test_any_spelling_of_any_card_number_is_caught(number, size, separator, script, after, before):
    grouped = separator.join(number[i : i + size] for i in range(0, len(number), size))
    text = before + grouped.translate(str.maketrans("0123456789", script)) + after
    assert looks_like_card_number(text)
    assert find_sensitive({"note": text}) == ("note", CARD_PROBLEM)
    assert freeze_scanned({"note": text}) is None


@given(st.text(max_size=40).filter(lambda s: "\x00" not in s and not looks_like_card_number(s)))
def test_clean_text_is_frozen_unchanged(text):
    frozen = freeze_scanned({"a": text, "b": [text, {"c": text}]})
    assert frozen == {"a": text, "b": [text, {"c": text}]}
    assert find_sensitive(frozen) is None and find_sensitive(dict(frozen)) is None


# Invisible characters (Unicode default-ignorable: zero-width spaces and joiners, soft
# hyphen, word joiner, byte-order mark, bidi marks, variation selectors) render as nothing:
# a card number with one between every digit looks, and copies, exactly like the plain one.
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u200e", "\ufe0f"]


@given(card_numbers, st.sampled_from(INVISIBLE), st.sampled_from(["", "卡号", "card "]))
def test_invisible_characters_between_every_digit_hide_no_card_number(number, invisible, before):
    text = before + invisible.join(number)
    assert looks_like_card_number(text)
    assert freeze_scanned({"note": text}) is None
    assert find_sensitive({"note": text}) == ("note", CARD_PROBLEM)


# Two ordinary numbers side by side are not one card number: a card is written in groups
# of 3 to 8 digits, never with an 11-digit mobile number as one of its groups.
mobiles = st.text("0123456789", min_size=8, max_size=8).map(lambda rest: "138" + rest)


@given(
    st.text("0123456789", min_size=6, max_size=6),
    mobiles,
    st.text("0123456789", min_size=8, max_size=8),
    mobiles,
)
def test_a_postcode_or_a_landline_beside_a_mobile_number_is_not_a_card(
    postcode, mobile, landline, other
):
    for text in (
        f"北京市朝阳区建国路88号 {postcode} {mobile}",  # address, postcode, phone
        f"{postcode} {mobile}",
        f"电话 021-{landline} {mobile}",  # a landline and a mobile
        f"{mobile} / {other}",
    ):
        assert not looks_like_card_number(text), text
        assert freeze_scanned({"address": text}) is not None


@given(card_numbers.filter(lambda number: len(number) == 16))
def test_a_card_number_in_two_halves_is_still_caught(number):
    assert looks_like_card_number(f"{number[:8]} {number[8:]}")


@pytest.mark.parametrize(
    "text",
    [
        "SF1311164452351",  # SF Express waybill: "SF" + 13 digits, Luhn-valid by chance
        "775123456789012344",  # an 18-digit order number, Luhn-valid by chance
    ],
)
def test_the_rule_refuses_one_tracking_or_order_number_in_ten(text):
    """The price of 'every 13-19 digit run that passes Luhn is refused' (issue 10 §6).

    One SF Express / YTO / ZTO tracking number, Taobao order number, EAN-13 barcode or
    resident ID in ten passes the Luhn check by chance and is refused as a card number.
    This pins the rule as it stands; narrowing it (issuer prefixes and lengths) is a
    decision of its own, not an accident.
    """
    assert looks_like_card_number(text)
