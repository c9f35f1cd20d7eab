"""Money: a ``Decimal`` amount in an ISO 4217 currency, never a float."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, final

import attrs

from ._errors import InvalidPayload

__all__ = ["Money", "minor_units", "to_decimal"]

_CURRENCY = re.compile(r"[A-Z]{3}\Z")

# ISO 4217 currencies whose minor unit is not two decimal places; every other
# well-formed code uses two.
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def minor_units(currency: str) -> int:
    """Return how many decimal places ``currency`` uses (``2`` for most, ``0`` for JPY)."""
    return _MINOR_UNITS.get(currency, 2)


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """Convert an ``int``, ``str`` or ``Decimal`` to a finite ``Decimal``.

    Floats (and bools) are refused with :class:`InvalidPayload`, because a float
    cannot represent most prices exactly.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, (int, str)):
        if isinstance(value, float):
            raise InvalidPayload(
                f"{what} {value!r} is a float; pass a Decimal, an int or a str such as "
                f"Decimal({str(value)!r})"
            )
        raise InvalidPayload(f"{what} {value!r} must be a Decimal, an int or a decimal string")
    else:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise InvalidPayload(f"{what} {value!r} is not a decimal number") from None
    if not result.is_finite():
        raise InvalidPayload(f"{what} {value!r} must be a finite number")
    return result


def _to_currency(value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise InvalidPayload(
            f"currency {value!r} must be a three-letter ISO 4217 code such as 'CNY'"
        )
    return value


_EXPONENTS: dict[str, Decimal] = {}


def _exponent(currency: str) -> Decimal:
    exponent = _EXPONENTS.get(currency)
    if exponent is None:
        exponent = _EXPONENTS[currency] = Decimal(1).scaleb(-minor_units(_to_currency(currency)))
    return exponent


@final
@attrs.frozen(init=False, order=False, repr=False)
class Money:
    """An exact amount of one currency, quantised to the currency's minor unit.

    >>> Money("19.9", "CNY")
    Money('19.90', 'CNY')
    >>> Money("19.90", "CNY") * 3
    Money('59.70', 'CNY')

    Floats, more decimals than the currency has, and arithmetic that mixes
    currencies raise :class:`InvalidPayload`.
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        exponent = (
            _exponent(currency) if type(currency) is str else _exponent(_to_currency(currency))
        )
        value = amount if type(amount) is Decimal else to_decimal(amount)
        try:
            quantised = value.quantize(exponent)
        except InvalidOperation:  # too many digits, or not finite
            raise InvalidPayload(f"amount {amount!r} is not a valid {currency} amount") from None
        if quantised != value:
            raise InvalidPayload(
                f"amount {value!r} has more decimals than {currency} allows "
                f"({minor_units(currency)})"
            )
        object.__setattr__(self, "amount", quantised)
        object.__setattr__(self, "currency", currency)

    @classmethod
    def _exact(cls, amount: Decimal, currency: str) -> Money:
        """Build from an amount already quantised for ``currency`` (arithmetic results)."""
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount)
        object.__setattr__(money, "currency", currency)
        return money

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in ``currency``."""
        return cls(Decimal(0), currency)

    def _same(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise InvalidPayload(f"cannot {op} {self!r} and {other!r}: both must be Money")
        if other.currency != self.currency:
            raise InvalidPayload(
                f"cannot {op} {self} and {other}: currencies differ "
                f"({self.currency} vs {other.currency})"
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money._exact(self.amount + self._same(other, "add").amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money._exact(self.amount - self._same(other, "subtract").amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise InvalidPayload(f"{self} can only be multiplied by an int, not {factor!r}")
        return Money._exact(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def share(self, rate: Decimal) -> Money:
        """Return ``rate`` of this amount, rounded half up to the minor unit (e.g. a fee)."""
        if not isinstance(rate, Decimal):
            raise InvalidPayload(f"rate {rate!r} must be a Decimal")
        exponent = _exponent(self.currency)
        return Money._exact((self.amount * rate).quantize(exponent, ROUND_HALF_UP), self.currency)

    def __neg__(self) -> Money:
        return Money._exact(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other, "compare").amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other, "compare").amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other, "compare").amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other, "compare").amount

    def __str__(self) -> str:
        return f"{self.currency} {self.amount}"

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"

    def to_json(self) -> dict[str, Any]:
        """Return ``{"amount": "19.90", "currency": "CNY"}`` (the amount as a string)."""
        return {"amount": str(self.amount), "currency": self.currency}
