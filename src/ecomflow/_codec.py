"""The JSON codec: turns payloads, contexts and events into JSON-safe data and back.

One configured :mod:`cattrs` converter serves the whole library: ``Decimal`` as a
string (exact), ``datetime`` and ``date`` as ISO 8601, enums by value, :class:`Money` as
``{"amount": "19.90", "currency": "CNY"}``. Nothing is ever pickled.
"""

from __future__ import annotations

import enum
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar

import cattrs
from cattrs.fns import identity

from ._money import Money, to_decimal

__all__ = ["converter", "structure", "unstructure"]

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda value, _: to_decimal(value))
converter.register_unstructure_hook(datetime, datetime.isoformat)
converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
converter.register_unstructure_hook(date, date.isoformat)
converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))
converter.register_unstructure_hook(Money, Money.to_json)
converter.register_structure_hook(Money, lambda value, _: Money(value["amount"], value["currency"]))
# Two that every fire's payload meets, made cheaper: an enum's value read in C (the
# ``value`` property is Python code), and an optional str, int, float or bool passed
# through as it is (cattrs then reads the field inline instead of calling a function).
converter.register_unstructure_hook(enum.Enum, attrgetter("_value_"))
_PLAIN = (str, int, float, bool)


def _optional_plain(kind: Any) -> bool:
    """Whether ``kind`` is ``X | None`` (or ``Optional[X]``) for a plain JSON scalar X."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return False
    args = typing.get_args(kind)
    return len(args) == 2 and type(None) in args and any(arg in _PLAIN for arg in args)


converter.register_unstructure_hook_factory(_optional_plain, lambda _: identity)


def unstructure(value: Any) -> Any:
    """Return ``value`` as JSON-safe data (dicts, lists, str, int, bool, None)."""
    return converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """Rebuild a ``cls`` from the JSON-safe ``data`` that :func:`unstructure` made."""
    return converter.structure(data, cls)
