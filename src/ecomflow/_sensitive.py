"""Refusing sensitive values: no full payment card number ever enters a transaction."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._errors import InvalidPayload

__all__ = ["check_text", "find_card_number", "find_sensitive", "looks_like_card_number"]

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


_SCALARS = frozenset({int, bool, float, type(None)})


def _scan(value: object, path: str) -> str | None:
    if type(value) is str:
        return path if len(value) >= 13 and looks_like_card_number(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _scan(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _scan(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(value, str):  # a str subclass
        return _scan(str(value), path)
    return None


def find_card_number(values: Mapping[str, object]) -> str | None:
    """Return the name of the first field in ``values`` holding a card-number-like string."""
    for key, value in values.items():
        kind = type(value)
        if kind is str:
            if len(value) >= 13 and looks_like_card_number(value):  # type: ignore[arg-type]
                return key
        elif kind in _SCALARS:
            continue
        elif isinstance(value, (Mapping, list, tuple, str)):
            found = _scan(value, key)
            if found is not None:
                return found
    return None


def _problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL byte"
    if len(text) >= 13 and looks_like_card_number(text):
        return "looks like a full card number; pass a token or the last four digits instead"
    return None


def find_sensitive(values: Mapping[str, object]) -> tuple[str, str] | None:
    """Return ``(field path, problem)`` for the first string in ``values`` that may not be stored.

    A string may not be stored when it looks like a full card number or holds a NUL
    byte; ``None`` when every string is fine.
    """
    card = find_card_number(values)
    if card is not None:
        return card, _problem_text("card")
    return _find_nul(values, "")


def _problem_text(kind: str) -> str:
    if kind == "card":
        return "looks like a full card number; pass a token or the last four digits instead"
    return "holds a NUL byte"


def _find_nul(value: object, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        return (path, _problem_text("nul")) if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _find_nul(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_nul(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def check_text(value: str, what: str) -> None:
    """Raise :class:`InvalidPayload` when ``value`` (named ``what``) may not be stored.

    For identifiers that reach the store: transaction ids, idempotency keys,
    checkpoint names. ``what`` names the value in the message, e.g. ``"transaction id"``.
    """
    problem = _problem(value)
    if problem is not None:
        # The value itself is not repeated: an error message ends up in logs.
        raise InvalidPayload(f"The {what} given {problem}.")
