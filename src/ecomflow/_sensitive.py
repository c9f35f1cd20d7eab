"""Refusing sensitive values: no full payment card number ever enters a transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

__all__ = ["find_card_number", "looks_like_card_number"]

# 13 to 19 digits, optionally grouped by single spaces or dashes.
_CANDIDATE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    """Return whether ``text`` contains 13–19 digits that pass the Luhn check.

    >>> looks_like_card_number("4111 1111 1111 1111")
    True
    >>> looks_like_card_number("tok_4111")
    False
    """
    for match in _CANDIDATE.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if _luhn_ok(digits):
            return True
    return False


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def find_card_number(values: Mapping[str, object]) -> str | None:
    """Return the name of the first field in ``values`` holding a card-number-like string."""
    for path, text in _strings(values, ""):
        if len(text) >= 13 and looks_like_card_number(text):
            return path
    return None
