"""Validated attrs fields for payloads and contexts.

Each helper returns an ``attrs.field`` whose converter or validator raises
:class:`InvalidPayload` with a message naming the field and the bad value.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ._errors import InvalidPayload
from ._money import MAX_QUANTITY, Money, _show, check_amount, to_decimal

__all__ = [
    "choice",
    "decimal",
    "money",
    "optional_money",
    "optional_text",
    "positive_int",
    "text",
]

E = TypeVar("E", bound=enum.Enum)


def _text_validator(max_length: int, optional: bool = False) -> Any:
    def check(_: object, field: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:  # one call, not attrs' optional() around another
            return
        if not isinstance(value, str) or not value.strip():
            raise InvalidPayload(
                f"{field.name} must be a non-empty string (got {value!r})",
                zh=f"{field.name} 必须是非空字符串（收到 {value!r}）",
            )
        if len(value) > max_length:
            raise InvalidPayload(
                f"{field.name} is {len(value)} characters long; at most {max_length} allowed",
                zh=f"{field.name} 长 {len(value)} 个字符；最多允许 {max_length} 个",
            )

    return check


KIND = "ecomflow.kind"
"""The attrs metadata key naming what a field accepts, for :mod:`ecomflow.testing`."""


def text(*, max_length: int = 1000) -> Any:
    """Return a field for a required, non-empty string of at most ``max_length`` characters."""
    return attrs.field(validator=_text_validator(max_length), metadata={KIND: ("text", max_length)})


def optional_text(*, max_length: int = 1000) -> Any:
    """Return a field for an optional string (default ``None``) of at most ``max_length`` chars."""
    return attrs.field(
        default=None,
        validator=_text_validator(max_length, optional=True),
        metadata={KIND: ("optional_text", max_length)},
    )


def _positive_int(maximum: int) -> Any:
    def check(_: object, field: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidPayload(
                f"{field.name} must be a positive integer (got {_show(value)})",
                zh=f"{field.name} 必须是正整数（收到 {_show(value)}）",
            )
        if value > maximum:
            raise InvalidPayload(
                f"{field.name} {_show(value)} is over the maximum, {maximum:,}",
                zh=f"{field.name} {_show(value)} 超过上限 {maximum:,}",
            )

    return check


def positive_int(*, maximum: int = MAX_QUANTITY) -> Any:
    """Return a field for an ``int`` from 1 to ``maximum`` (10**9 by default; bools refused).

    The bound keeps quantities sane: a price times the quantity stays an exact amount.
    """
    return attrs.field(validator=_positive_int(maximum), metadata={KIND: ("positive_int", maximum)})


def decimal(*, minimum: Decimal | None = Decimal(0)) -> Any:
    """Return a field for an exact number: ``Decimal``, ``int`` or decimal ``str``, not float."""

    def convert(value: object, field: attrs.Attribute[Any]) -> Decimal:
        result = check_amount(to_decimal(value, field.name), field.name)
        if minimum is not None and result < minimum:
            raise InvalidPayload(
                f"{field.name} must be at least {minimum} (got {value!r})",
                zh=f"{field.name} 必须至少为 {minimum}（收到 {value!r}）",
            )
        return result

    return attrs.field(
        converter=attrs.Converter(convert, takes_field=True),
        metadata={KIND: ("decimal", minimum)},
    )


def _money_converter(minimum: Decimal | None, optional: bool) -> Any:
    def convert(value: object, field: attrs.Attribute[Any]) -> Money | None:
        if value is None and optional:
            return None
        if not isinstance(value, Money):
            raise InvalidPayload(
                f"{field.name} must be Money, e.g. Money('19.90', 'CNY') (got {value!r})",
                zh=f"{field.name} 必须是 Money，例如 Money('19.90', 'CNY')（收到 {value!r}）",
            )
        if minimum is not None and value.amount < minimum:
            raise InvalidPayload(
                f"{field.name} must be at least {minimum} (got {value})",
                zh=f"{field.name} 必须至少为 {minimum}（收到 {value}）",
            )
        return value

    return attrs.Converter(convert, takes_field=True)


def money(*, minimum: Decimal | None = Decimal(0)) -> Any:
    """Return a field for a required :class:`Money` of at least ``minimum``."""
    return attrs.field(
        converter=_money_converter(minimum, optional=False), metadata={KIND: ("money", minimum)}
    )


def optional_money(*, minimum: Decimal | None = Decimal(0)) -> Any:
    """Return a field for a :class:`Money` of at least ``minimum``, or ``None`` (the default)."""
    return attrs.field(
        default=None,
        converter=_money_converter(minimum, optional=True),
        metadata={KIND: ("optional_money", minimum)},
    )


def choice(kind: type[E]) -> Any:
    """Return a field for a member of the enum ``kind``, given as a member or its value."""

    def convert(value: object, field: attrs.Attribute[Any]) -> E:
        if isinstance(value, kind):
            return value
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in kind)
            raise InvalidPayload(
                f"{field.name} {value!r} is not one of {allowed}",
                zh=f"{field.name} {value!r} 不是以下之一：{allowed}",
            ) from None

    return attrs.field(
        converter=attrs.Converter(convert, takes_field=True), metadata={KIND: ("choice", kind)}
    )


_new_object = object.__new__
# (field names, plain, slot descriptors, the names as a set, the setter of a dict-based
# class's __dict__ when it is copied whole)
_Plan = tuple[
    tuple[str, ...], bool, tuple[Any, ...] | None, frozenset[str], Callable[[Any, Any], None] | None
]
_PLANS: dict[type[Any], _Plan] = {}
T = TypeVar("T")


def _slots_of(cls: type[Any], names: tuple[str, ...]) -> tuple[Any, ...] | None:
    """Return the slot descriptors of ``names`` on a slotted class, or ``None``."""
    found = []
    for name in names:
        slot = next((vars(k)[name] for k in cls.__mro__ if name in vars(k)), None)
        if type(slot).__name__ != "member_descriptor":
            return None
        found.append(slot)
    return tuple(found)


def _plan(cls: type[Any]) -> _Plan:
    fields = attrs.fields(cls)
    names = tuple(field.name for field in fields)
    plain = (
        not hasattr(cls, "__attrs_post_init__")
        and not hasattr(cls, "__attrs_pre_init__")
        and all(
            field.validator is None
            and field.converter is None
            and field.init
            and field.alias == field.name
            for field in fields
        )
    )
    slots = None if "__dict__" in dir(cls) else _slots_of(cls, names)
    # A dict-based class whose __dict__ holds its fields alone (no cached property's
    # value, which would go stale in the copy) is copied as a whole dict, in C.
    whole = "__dict__" in dir(cls) and not any(
        isinstance(value, functools.cached_property)
        for klass in cls.__mro__
        for value in vars(klass).values()
    )
    setter = None
    if plain and whole:  # the descriptor of __dict__, set past the frozen __setattr__
        descriptor = next(vars(k)["__dict__"] for k in cls.__mro__ if "__dict__" in vars(k))
        setter = descriptor.__set__
    plan = _PLANS[cls] = (
        names,
        plain and ("__dict__" in dir(cls) or slots is not None),
        slots,
        frozenset(names),
        setter,
    )
    return plan


def replace(instance: T, **changes: Any) -> T:
    """Return a copy of the attrs ``instance`` with ``changes`` applied, like ``attrs.evolve``.

    Effects run on every transition, so this is the fast path: for a class with no
    validators, converters or post-init hook (a typical context) the fields are copied
    directly, slot by slot or into its ``__dict__``; any other class is rebuilt through
    its ``__init__``, so its checks run.
    """
    set_fields = _WHOLE.get(type(instance))
    if set_fields is not None:
        # The fields' dict copied in C (one block), the changes applied; an unknown
        # name is a key the copy did not have, so it grows: checked by its size alone.
        old = instance.__dict__
        fields = old.copy()
        fields.update(changes)
        if len(fields) == len(old):
            new = _new_object(type(instance))
            set_fields(new, fields)
            return new
    return _replace(instance, changes)


# A dict-based class copied whole: the setter of its instances' __dict__ (see _plan).
_WHOLE: dict[type[Any], Callable[[Any, Any], None]] = {}


def _replace(instance: T, changes: dict[str, Any]) -> T:
    """:func:`replace` for a class not copied whole (or a change naming no field)."""
    cls = type(instance)
    names, plain, slots, known, set_fields = _PLANS.get(cls) or _plan(cls)
    if set_fields is not None and cls not in _WHOLE:
        _WHOLE[cls] = set_fields
        return replace(instance, **changes)
    if not changes.keys() <= known:
        unknown = changes.keys() - known
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    if plain and slots is not None:
        new = object.__new__(cls)
        for name, slot in zip(names, slots, strict=True):
            slot.__set__(new, changes[name] if name in changes else slot.__get__(instance))
        return new
    if plain:
        old = instance.__dict__
        new = object.__new__(cls)
        fields = new.__dict__
        for name in names:
            fields[name] = changes[name] if name in changes else old[name]
        return new
    return cls(*[changes[name] if name in changes else getattr(instance, name) for name in names])
