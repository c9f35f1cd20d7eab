"""Money: a ``Decimal`` amount in an ISO 4217 currency, never a float."""

from __future__ import annotations

import difflib
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Any, final

import attrs

from ._errors import InvalidPayload
from ._frozen import ScannedDict

__all__ = [
    "CURRENCIES",
    "MAX_AMOUNT_DIGITS",
    "MAX_QUANTITY",
    "Money",
    "minor_units",
    "to_decimal",
]

MAX_AMOUNT_DIGITS = 18
"""An amount has at most 18 digits before the decimal point (|amount| < 10**18).

That is a million times the world's yearly GDP in any currency, and with the
currency's decimals it stays well inside ``Decimal``'s 28 significant digits, so no
sum or product of amounts is ever rounded silently.
"""
MAX_QUANTITY = 10**9
"""The largest quantity of goods a payload may carry: one billion units."""

_ISO_4217 = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF
    DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
    LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
    NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH
    UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG
    XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """
CURRENCIES: frozenset[str] = frozenset(_ISO_4217.split())
"""The active ISO 4217 alphabetic codes (list one, including funds and precious metals)."""

# Names people write for a currency that ISO 4217 spells otherwise.
_ALIASES = {
    "RMB": "CNY",
    "CNH": "CNY",
    "YUAN": "CNY",
    "NTD": "TWD",
    "NT$": "TWD",
    "YEN": "JPY",
    "UKP": "GBP",
    "STG": "GBP",
    "RUR": "RUB",
    "HRK": "EUR",
}

# Exact decimal arithmetic: a result that would need rounding raises Inexact instead.
_EXACT = Context(prec=60, traps=[InvalidOperation, Inexact, Overflow])
# Rounding on purpose (a fee's share), but never past the precision silently.
_ROUND = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])
_LIMIT = MAX_AMOUNT_DIGITS - 1  # the largest Decimal.adjusted() an amount may have

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
                f"Decimal({str(value)!r})",
                zh=f"{_what_zh(what)} {value!r} 是浮点数；请传 Decimal、int 或字符串，例如 "
                f"Decimal({str(value)!r})",
            )
        raise InvalidPayload(
            f"{what} {value!r} must be a Decimal, an int or a decimal string",
            zh=f"{_what_zh(what)} {value!r} 必须是 Decimal、int 或十进制数字字符串",
        )
    else:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise InvalidPayload(
                f"{what} {value!r} is not a decimal number",
                zh=f"{_what_zh(what)} {value!r} 不是十进制数",
            ) from None
    if not result.is_finite():
        raise InvalidPayload(
            f"{what} {value!r} must be a finite number",
            zh=f"{_what_zh(what)} {value!r} 必须是有限数",
        )
    return result


def _to_currency(value: object) -> str:
    if type(value) is str and value in CURRENCIES:
        return value
    if not isinstance(value, str):
        raise InvalidPayload(
            f"currency {value!r} must be a three-letter ISO 4217 code such as 'CNY'",
            zh=f"币种 {value!r} 必须是三个字母的 ISO 4217 代码，例如 'CNY'",
        )
    suggestion = _suggest(value.strip().upper())
    hint = f"; did you mean {suggestion!r}?" if suggestion else ", such as 'CNY'"
    hint_zh = f"；你是不是想写 {suggestion!r}？" if suggestion else "，例如 'CNY'"
    raise InvalidPayload(
        f"currency {value!r} is not an active ISO 4217 code{hint}",
        zh=f"币种 {value!r} 不是现行的 ISO 4217 代码{hint_zh}",
    )


# The most used currencies first: a typo is more likely one of these.
_COMMON = ("CNY", "USD", "EUR", "JPY", "GBP", "HKD", "KRW", "AUD", "CAD", "CHF", "SGD", "TWD")


def _suggest(code: str) -> str | None:
    """Return the active code ``code`` most likely stands for, or None."""
    if code in _ALIASES:
        return _ALIASES[code]
    if code in CURRENCIES:
        return code  # only the case was wrong
    if len(code) == 3:
        # One letter off; the last letter (the currency's own) the likeliest typo.
        near = [
            (-index, _COMMON.index(other) if other in _COMMON else len(_COMMON), other)
            for other in CURRENCIES
            for index in range(3)
            if other[:index] + other[index + 1 :] == code[:index] + code[index + 1 :]
            and other[index] != code[index]
        ]
        if near:
            return min(near)[2]
    close = difflib.get_close_matches(code, sorted(CURRENCIES), n=1, cutoff=0.6)
    return close[0] if close else None


def _what_zh(what: str) -> str:
    """Return the Chinese of ``what`` a number is: a field's name, or 金额 for an amount."""
    return "金额" if what == "amount" else what


# The Chinese of each operation named in an arithmetic error.
_OPS_ZH = {"add": "相加", "subtract": "相减", "multiply": "相乘", "take a share of": "取份额"}


def _show(value: object) -> str:
    """Return ``repr(value)``, or a description when an int is too long to print."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a {int(value.bit_length() * 0.30103) + 1}-digit integer"
    return repr(value)


def _show_decimal(value: Decimal) -> str:
    if value.is_finite() and value.adjusted() > 40:
        return f"of {value.adjusted() + 1} digits"
    return str(value)


def check_amount(value: Decimal, what: str = "amount") -> Decimal:
    """Return ``value``, or raise InvalidPayload if it has more than 18 integer digits."""
    if value and value.adjusted() > _LIMIT:
        raise InvalidPayload(
            f"{what} {_show_decimal(value)} has more than {MAX_AMOUNT_DIGITS} digits before "
            f"the decimal point; at most {10**MAX_AMOUNT_DIGITS - 1} is allowed",
            zh=f"{_what_zh(what)} {_show_decimal(value)} 的整数部分超过 {MAX_AMOUNT_DIGITS} 位；"
            f"最大允许 {10**MAX_AMOUNT_DIGITS - 1}",
        )
    return value


_EXPONENTS: dict[str, Decimal] = {}


def _exponent(currency: str) -> Decimal:
    exponent = _EXPONENTS.get(currency)
    if exponent is None:
        exponent = _EXPONENTS[currency] = Decimal(1).scaleb(-minor_units(_to_currency(currency)))
    return exponent


class _JsonSlot:
    """Where a :class:`Money` keeps its JSON once made: a slot outside its attrs fields.

    A ``functools.cached_property`` would have attrs write a ``__getattr__`` for the
    class, and a class with one has every attribute read (``amount``, ``currency``)
    take the interpreter's slow path; a slot of a base class costs nothing.
    """

    __slots__ = ("_json_made",)


@final
@attrs.frozen(init=False, order=False, repr=False)
class Money(_JsonSlot):
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
        if type(amount) is Decimal:
            value = amount
            if not value.is_finite():
                raise InvalidPayload(
                    f"amount {value} must be a finite number", zh=f"金额 {value} 必须是有限数"
                )
        else:
            value = to_decimal(amount)  # finite, or InvalidPayload
        if value.adjusted() > _LIMIT:
            check_amount(value)  # raises, unless the value is a zero such as 0E+30
        try:
            quantised = value.quantize(exponent, context=_EXACT)
        except DecimalException:  # digits the currency cannot hold
            raise InvalidPayload(
                f"amount {value} has more decimals than {currency} allows "
                f"({minor_units(currency)})",
                zh=f"金额 {value} 的小数位多于 {currency} 允许的位数（{minor_units(currency)}）",
            ) from None
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
            raise InvalidPayload(
                f"cannot {op} {self!r} and {other!r}: both must be Money",
                zh=f"无法{_OPS_ZH.get(op, op)} {self!r} 和 {other!r}：两者都必须是 Money",
            )
        if other.currency != self.currency:
            raise InvalidPayload(
                f"cannot {op} {self} and {other}: currencies differ "
                f"({self.currency} vs {other.currency})",
                zh=f"无法{_OPS_ZH.get(op, op)} {self} 和 {other}：币种不同"
                f"（{self.currency} 与 {other.currency}）",
            )
        return other

    def _too_big(self, op: str, other: object) -> InvalidPayload:
        shown = other if isinstance(other, Money) else _show(other)
        return InvalidPayload(
            f"cannot {op} {self} and {shown}: the result has more than {MAX_AMOUNT_DIGITS} "
            "digits before the decimal point",
            zh=f"无法{_OPS_ZH.get(op, op)} {self} 和 {shown}：结果的整数部分超过 "
            f"{MAX_AMOUNT_DIGITS} 位",
        )

    # Arithmetic is exact (_EXACT has room for any two bounded amounts or an amount
    # times a bounded quantity); the bound on the result is the only check it needs.
    def __add__(self, other: Money) -> Money:
        if type(other) is not Money or other.currency != self.currency:
            self._same(other, "add")
        amount = _EXACT.add(self.amount, other.amount)
        if amount.adjusted() > _LIMIT:
            raise self._too_big("add", other)
        return Money._exact(amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if type(other) is not Money or other.currency != self.currency:
            self._same(other, "subtract")
        amount = _EXACT.subtract(self.amount, other.amount)
        if amount.adjusted() > _LIMIT:
            raise self._too_big("subtract", other)
        return Money._exact(amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int and (isinstance(factor, bool) or not isinstance(factor, int)):
            raise InvalidPayload(
                f"{self} can only be multiplied by an int, not {factor!r}",
                zh=f"{self} 只能乘以 int，不能乘以 {factor!r}",
            )
        if not -MAX_QUANTITY <= factor <= MAX_QUANTITY:
            raise InvalidPayload(
                f"cannot multiply {self} by {_show(factor)}: at most {MAX_QUANTITY:,} allowed",
                zh=f"无法将 {self} 乘以 {_show(factor)}：最多允许 {MAX_QUANTITY:,}",
            )
        amount = _EXACT.multiply(self.amount, factor)
        if amount.adjusted() > _LIMIT:
            raise self._too_big("multiply", factor)
        return Money._exact(amount, self.currency)

    __rmul__ = __mul__

    def share(self, rate: Decimal) -> Money:
        """Return ``rate`` of this amount, rounded half up to the minor unit (e.g. a fee)."""
        if not isinstance(rate, Decimal) or not rate.is_finite():
            raise InvalidPayload(
                f"rate {rate!r} must be a finite Decimal", zh=f"比率 {rate!r} 必须是有限的 Decimal"
            )
        exponent = _exponent(self.currency)
        try:
            amount = _ROUND.multiply(self.amount, rate).quantize(exponent, context=_ROUND)
        except DecimalException:
            raise InvalidPayload(
                f"cannot take a share {rate} of {self}: too many digits",
                zh=f"无法取 {self} 的 {rate} 份额：位数太多",
            ) from None
        if amount.adjusted() > _LIMIT:
            raise self._too_big("take a share of", rate)
        return Money._exact(amount, self.currency)

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
        """Return ``{"amount": "19.90", "currency": "CNY"}`` (the amount as a string).

        The dict is read-only and marked as scanned: an amount and an ISO code are no
        free text, so event data holding Money is frozen and checked without walking it.
        """
        made: ScannedDict | None = _made_json(self, "_json_made", None)
        return self._json() if made is None else made

    def _json(self) -> ScannedDict:
        """Make the JSON of :meth:`to_json` once per value, shared by equal values.

        Event data records the same total in several events of a sale: one read-only
        object for them all, and none made again on each call.
        """
        amount = str(self.amount)
        key = (amount, self.currency)
        found = _JSON.get(key)
        if found is None:
            if len(_JSON) >= _JSON_MAX:
                _JSON.clear()  # bounded: the recent ones come back
            found = _JSON[key] = ScannedDict(amount=amount, currency=self.currency)
        object.__setattr__(self, "_json_made", found)
        return found


# getattr with a default: an empty slot is looked up without raising AttributeError (a
# new value's first call), and a filled one in one C call.
_made_json = getattr
_JSON: dict[tuple[str, str], ScannedDict] = {}
"""Money's JSON by (amount as text, currency): each read-only ScannedDict kept once."""
_JSON_MAX = 4096
