"""Refusing sensitive values: no full payment card number, and no NUL byte, is ever stored.

How a card number is found in a string (:func:`looks_like_card_number`):

1. The text is NFKC-normalised (full-width digits become ASCII, a non-breaking or
   ideographic space a plain space), invisible characters (zero-width spaces and
   joiners, soft hyphens, byte-order marks, bidi marks, variation selectors: Unicode's
   default-ignorable code points) are dropped, and every Unicode decimal digit
   (Arabic-Indic, Devanagari, ...) is read as its value.
2. Digits form *groups* (maximal runs of digits). Two groups belong to one *chain*
   when they are separated by one to three characters that are neither letters nor
   digits (spaces of any kind, tabs, zero-width characters, dashes, dots, slashes,
   colons, underscores...). A letter, a longer gap, a line break, or a list
   separator (``,`` ``;`` ``、`` ``。``) ends a chain.
3. Every *window* of consecutive groups in a chain is Luhn-checked when it holds 13
   to 19 digits and is either one group, or several groups of at most eight digits of
   which all but the last have at least three (cards are printed 4-4-4-4, 4-6-5...).
   So ``4111 1111 1111 1111 123`` (a CVV after the number), ``12 4111111111111111``
   and ``qty 4111.1111.1111.1111`` are caught, while dates and times (``2024-01-15
   10:00-12:00``) and phone numbers with a short country code (``+86 138 0013 8000``)
   are not read as card numbers: their inner groups are short; nor are a postcode or a
   landline beside a mobile number (``100022 13812345678``): an 11-digit group stands
   alone. A single run of more than 19 digits is not a card number.

A run of 13-19 digits that happens to pass the Luhn check (one in ten) is refused
too: a false alarm is the price of never storing a real card number. Numbers spelled
out in words, or digits spaced one or two at a time, are not detected.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import InvalidPayload
from ._frozen import _LEAVES, FrozenDict, FrozenList, ScannedDict
from ._messages import problem_zh, what_zh

__all__ = [
    "CARD_PROBLEM",
    "NUL_PROBLEM",
    "SURROGATE_PROBLEM",
    "Refused",
    "check_text",
    "find_card_number",
    "find_sensitive",
    "freeze_scanned",
    "looks_like_card_number",
    "scan_dict",
    "text_problem",
    "unstorable",
]

CARD_PROBLEM = "looks like a full card number; pass a token or the last four digits instead"
NUL_PROBLEM = "holds a NUL byte"
SURROGATE_PROBLEM = "holds a lone surrogate: it is not valid Unicode text"


def _not_unicode(text: str) -> bool:
    """Return whether non-ASCII ``text`` holds a lone surrogate (no database takes one)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# A chain: digit groups joined by 1-3 characters that are not letters, digits, line
# breaks or list separators (``\w`` is letters, digits and "_"; "_" joins).
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029,;\u3001\u3002"
_CHAIN = re.compile(rf"\d+(?:(?:[^\w{_BREAKS}]|_){{1,3}}\d+)*")
_GROUP = re.compile(r"\d+")
# Unicode's Default_Ignorable_Code_Point: characters that render as nothing, so a digit
# run with one between every digit looks exactly like the plain number.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_MIN_DIGITS, _MAX_DIGITS, _MIN_INNER_GROUP, _MAX_GROUP = 13, 19, 3, 8


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


def _ascii_digits(group: str) -> str:
    if group.isascii():
        return group
    return "".join(chr(48 + unicodedata.decimal(char)) for char in group)


def _chain_has_card(chain: str) -> bool:
    groups = [_ascii_digits(group) for group in _GROUP.findall(chain)]
    count = len(groups)
    for first in range(count):
        digits = ""
        for last in range(first, count):
            group = groups[last]
            if last > first and max(len(group), len(groups[first])) > _MAX_GROUP:
                break  # a card is written in short groups: a long one stands alone
            digits += group
            size = len(digits)
            if size > _MAX_DIGITS:
                break
            if size >= _MIN_DIGITS and _luhn_ok(digits):
                return True
            if len(group) < _MIN_INNER_GROUP:  # a short group only ends a window
                break
    return False


# At least 13 digits anywhere: the cheap test most strings fail (possessive where available).
_ENOUGH_DIGITS = re.compile(r"(?:\D*+\d){13}" if sys.version_info >= (3, 11) else r"(?:\D*\d){13}")


def looks_like_card_number(text: str) -> bool:
    """Return whether ``text`` holds a card number (13-19 Luhn-valid digits, see the module).

    >>> looks_like_card_number("4111 1111 1111 1111")
    True
    >>> looks_like_card_number("order 12 qty 4111.1111.1111.1111 cvv 123")
    True
    >>> looks_like_card_number("tok_4111")
    False
    """
    if not text.isascii():
        text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    elif len(text) < _MIN_DIGITS:
        return False
    if _ENOUGH_DIGITS.match(text) is None:
        return False  # fewer than 13 digits: the common case, decided in C
    for match in _CHAIN.finditer(text):
        chain = match.group()
        if len(chain) >= _MIN_DIGITS and _chain_has_card(chain):
            return True
    return False


def unstorable(text: str) -> bool:
    """Return whether no store can hold ``text`` (a NUL byte, a lone surrogate).

    Stores look such a key up as one that finds nothing: none is ever stored.
    """
    return "\x00" in text or (not text.isascii() and _not_unicode(text))


def text_problem(text: str) -> str | None:
    """Return why ``text`` may not be stored (a card number, a NUL byte), or ``None``."""
    if "\x00" in text:
        return NUL_PROBLEM
    if text.isascii():
        if len(text) >= _MIN_DIGITS and looks_like_card_number(text):
            return CARD_PROBLEM
        return None
    if _not_unicode(text):
        return SURROGATE_PROBLEM
    return CARD_PROBLEM if looks_like_card_number(text) else None


def _walk(
    value: object, path: str, problem_of: Callable[[str], str | None] = text_problem
) -> tuple[str, str] | None:
    if isinstance(value, str):
        problem = problem_of(str(value))
        return None if problem is None else (path, problem)
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                problem = problem_of(str(key))
                if problem is not None:
                    return (f"{path}.<key>" if path else "<key>", problem)
            found = _walk(item, where, problem_of)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _walk(item, f"{path}[{index}]", problem_of)
            if found is not None:
                return found
    return None


def find_sensitive(values: Mapping[str, object]) -> tuple[str, str] | None:
    """Return ``(field path, problem)`` for the first string in ``values`` that may not be stored.

    A string (a value or a key, at any depth) may not be stored when it looks like a
    full card number or holds a NUL byte; ``None`` when every string is fine. Data the
    engine already scanned (:class:`ScannedDict`, read-only) is not scanned again.
    """
    if type(values) is ScannedDict:
        return None
    return _walk(values, "")


def find_card_number(values: Mapping[str, object]) -> str | None:
    """Return the path of the first field in ``values`` holding a card-number-like string."""
    if type(values) is ScannedDict:
        return None
    found = _walk(values, "", _card_problem)
    return None if found is None else found[0]


def _card_problem(text: str) -> str | None:
    return CARD_PROBLEM if looks_like_card_number(text) else None


def check_text(value: str, what: str) -> None:
    """Raise :class:`InvalidPayload` when ``value`` (named ``what``) may not be stored.

    For identifiers that reach the store: transaction ids, idempotency keys,
    checkpoint names. ``what`` names the value in the message, e.g. ``"transaction id"``.
    """
    problem = text_problem(value) if isinstance(value, str) else None
    if problem is not None:
        # The value itself is not repeated: an error message ends up in logs.
        raise InvalidPayload(
            f"The {what} given {problem}.", zh=f"给出的 {what_zh(what)} {problem_zh(problem)}。"
        )


class Refused(Exception):
    """Raised by :func:`scan_dict` at the first string that may not be stored."""


_CLEAN_KEYS: set[str] = set()  # keys are few (field names): each is scanned once
_CLEAN_KEYS_MAX = 10_000


# Strings found clean, each scanned once: a name, an address, a goods name or a carrier
# recurs in the events of every later step of its transaction (and in other
# transactions), and most short values are the flows' own constants. Only the string is
# remembered, and the answer depends on nothing else: one set lookup decides it next time.
_CLEAN_TEXTS: set[str] = set()
_CLEAN_TEXTS_MAX = 8192
_CLEAN_TEXT_LENGTH = 500


def _check(text: str) -> None:
    """Raise :class:`Refused` if ``text`` may not be stored (the hot path's check)."""
    if text not in _CLEAN_TEXTS:
        _check_new(text)


def _check_new(text: str) -> None:
    """Check ``text``, not known clean, in full, and remember it when clean."""
    if "\x00" in text:
        raise Refused
    if (len(text) >= _MIN_DIGITS or not text.isascii()) and (
        (not text.isascii() and _not_unicode(text)) or looks_like_card_number(text)
    ):
        raise Refused
    if len(text) <= _CLEAN_TEXT_LENGTH:  # names, addresses and codes, not documents
        if len(_CLEAN_TEXTS) >= _CLEAN_TEXTS_MAX:
            _CLEAN_TEXTS.clear()  # bounded: the recent ones come back
        _CLEAN_TEXTS.add(text)


def scan_dict(data: Mapping[str, Any], cls: type[FrozenDict] | None) -> FrozenDict:
    """Check every key and string in ``data`` and return it frozen as a ``cls``.

    Raises :class:`Refused` at the first string that may not be stored. ``data`` that
    is a ScannedDict already is returned as is when ``cls`` is ScannedDict; ``cls``
    ``None`` means ``data`` is a ScannedDict the caller has just made and not yet
    scanned: it is checked and completed in place (no copy).

    The hot path of every fire: one loop, a string already found clean decided by one
    set lookup, keys (field names, few) remembered once clean.
    """
    if cls is ScannedDict and type(data) is ScannedDict:
        return data  # read-only and scanned when it was made (Money's JSON, shared empty data)
    if not data.keys() <= _CLEAN_KEYS:  # compared in C, no set made
        _check_keys(data)
    clean = _CLEAN_TEXTS
    flat = _FLAT
    for value in data.values():
        if type(value) is str:
            if value not in clean:
                _check_new(value)
        elif type(value) not in flat:  # nested data: frozen and scanned value by value
            return _scan_nested(data, cls)
    if cls is None:
        return data  # type: ignore[return-value]  # the caller's fresh ScannedDict
    return cls(data)


_FLAT = _LEAVES | {ScannedDict}  # values holding no string (or scanned already, Money's JSON)


def _scan_nested(data: Mapping[str, Any], cls: type[FrozenDict] | None) -> FrozenDict:
    """Finish :func:`scan_dict` for ``data`` holding nested mappings or lists."""
    nested = [key for key, value in data.items() if type(value) not in _FLAT]
    frozen: FrozenDict = data if cls is None else cls(data)  # type: ignore[assignment]
    for key in nested:  # still being built: the only writes it ever gets
        dict.__setitem__(frozen, key, _scan_value(data[key]))
    for value in data.values():  # the strings after the first nested value
        if type(value) is str:
            _check(value)
    return frozen


def _check_keys(data: Mapping[str, Any]) -> None:
    clean_keys = _CLEAN_KEYS
    for key in data:
        if type(key) is str and key not in clean_keys:
            _check(key)
            if len(clean_keys) < _CLEAN_KEYS_MAX:
                clean_keys.add(key)


def _scan_value(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        _check(value)
        return value
    if kind in _LEAVES or kind is ScannedDict:  # e.g. Money's JSON: clean by construction
        return value
    if kind is dict or kind is FrozenDict or isinstance(value, Mapping):
        return scan_dict(value, FrozenDict)
    if kind is list or kind is tuple or kind is FrozenList or isinstance(value, (list, tuple)):
        return FrozenList([_scan_value(item) for item in value])
    if isinstance(value, str):  # a str subclass
        _check(str(value))
    return value


def freeze_scanned(data: Mapping[str, Any]) -> ScannedDict | None:
    """Return ``data`` frozen and marked clean, or ``None`` if a string may not be stored.

    One pass both freezes (see :mod:`ecomflow._frozen`) and scans every key and string
    value at any depth, so the engine scans each fire's event data once and a store
    need not scan it again; :func:`find_sensitive` then names the culprit.
    """
    try:
        return scan_dict(data, ScannedDict)  # type: ignore[return-value]
    except Refused:
        return None
