from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomflow import InvalidPayload, Money
from ecomflow._money import minor_units
from tests.strategies import money


def test_quantises_to_the_minor_unit():
    assert Money("19.9", "CNY").amount == Decimal("19.90")
    assert str(Money("19.9", "CNY").amount) == "19.90"
    assert Money(500, "JPY").amount == Decimal("500")
    assert Money("1.5", "KWD").amount == Decimal("1.500")
    assert minor_units("JPY") == 0 and minor_units("KWD") == 3 and minor_units("CNY") == 2


@pytest.mark.parametrize("amount", [19.9, 0.1, float("nan"), True, None, [1]])
def test_refuses_floats_and_non_numbers(amount):
    with pytest.raises(InvalidPayload) as info:
        Money(amount, "CNY")
    assert repr(amount) in str(info.value)


def test_float_message_suggests_decimal():
    with pytest.raises(InvalidPayload, match=r"is a float; pass a Decimal"):
        Money(19.9, "CNY")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.234", "CNY"), ("1.5", "JPY"), ("NaN", "CNY"), ("Infinity", "CNY"), ("abc", "CNY")],
)
def test_refuses_amounts_the_currency_cannot_hold(amount, currency):
    with pytest.raises(InvalidPayload):
        Money(amount, currency)


@pytest.mark.parametrize("currency", ["cny", "RMB1", "", None, "¥"])
def test_refuses_malformed_currencies(currency):
    with pytest.raises(InvalidPayload, match="ISO 4217"):
        Money("1", currency)


def test_arithmetic_and_comparison():
    a, b = Money("1.10", "CNY"), Money("2.25", "CNY")
    assert a + b == Money("3.35", "CNY")
    assert b - a == Money("1.15", "CNY")
    assert a * 3 == 3 * a == Money("3.30", "CNY")
    assert -a == Money("-1.10", "CNY")
    assert a < b and b > a and a <= a and b >= b
    assert Money.zero("JPY") == Money(0, "JPY")
    assert str(a) == "CNY 1.10"
    assert repr(a) == "Money('1.10', 'CNY')"
    assert eval(repr(a)) == a  # the repr is valid Python


@pytest.mark.parametrize("op", ["add", "sub", "lt"])
def test_refuses_mixed_currencies(op):
    a, b = Money("1", "CNY"), Money("1", "USD")
    with pytest.raises(InvalidPayload, match="currencies differ"):
        {"add": lambda: a + b, "sub": lambda: a - b, "lt": lambda: a < b}[op]()


@pytest.mark.parametrize("factor", [1.5, True, Decimal("2")])
def test_multiplies_by_ints_only(factor):
    with pytest.raises(InvalidPayload):
        Money("1", "CNY") * factor


def test_is_an_invalid_payload_and_a_value_error():
    with pytest.raises(ValueError, match="is a float"):
        Money(1.0, "CNY")


@given(money(), money())
def test_addition_is_exact_and_commutative(a, b):
    if a.currency == b.currency:
        assert a + b == b + a
        assert (a + b).amount == a.amount + b.amount
        assert (a + b) - b == a


@given(money(), st.integers(0, 1000))
def test_multiplication_stays_quantised(a, n):
    product = a * n
    assert product == Money(a.amount * n, a.currency)
    assert product.amount.as_tuple().exponent == -minor_units(a.currency)
