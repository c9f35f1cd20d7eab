"""The JSON codec: turns payloads, contexts and events into JSON-safe data and back.

One configured :mod:`cattrs` converter serves the whole library: ``Decimal`` as a
string (exact), ``datetime`` and ``date`` as ISO 8601, enums by value, :class:`Money` as
``{"amount": "19.90", "currency": "CNY"}``. Nothing is ever pickled.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import cattrs

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


def unstructure(value: Any) -> Any:
    """Return ``value`` as JSON-safe data (dicts, lists, str, int, bool, None)."""
    return converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """Rebuild a ``cls`` from the JSON-safe ``data`` that :func:`unstructure` made."""
    return converter.structure(data, cls)
