"""Deeply read-only JSON data: what :attr:`Event.data` holds, so recorded history cannot change.

:class:`FrozenDict` and :class:`FrozenList` are ``dict`` and ``list`` subclasses whose
mutating methods raise ``TypeError``. Being real dicts and lists, they still dump with
``json.dumps`` (and so with psycopg's ``Jsonb``), compare equal to plain dicts and lists,
and pass ``isinstance(value, dict)`` checks; ``dict(data)`` gives a mutable shallow copy.
:func:`freeze` turns any JSON-like value into one: mappings become :class:`FrozenDict`,
lists and tuples :class:`FrozenList`, and frozen values are returned as they are, so
freezing twice costs one type check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["FrozenDict", "FrozenList", "ScannedDict", "freeze", "freeze_data"]


def _read_only(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: recorded event data cannot change")


class FrozenDict(dict[str, Any]):
    """A read-only ``dict`` whose values are frozen too."""

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: object) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))


class ScannedDict(FrozenDict):
    """A :class:`FrozenDict` whose strings the engine checked for card numbers and NUL bytes.

    Being read-only, it stays clean: a store may trust it instead of scanning again.
    """

    __slots__ = ()


class FrozenList(list[Any]):
    """A read-only ``list`` whose items are frozen too."""

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = clear = extend = insert = pop = remove = reverse = sort = _read_only

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: object) -> FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))


_LEAVES = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """Return ``value`` deeply read-only: mappings and sequences frozen, scalars as they are."""
    kind = type(value)
    if kind in _LEAVES or kind is FrozenDict or kind is ScannedDict or kind is FrozenList:
        return value
    if kind is dict or isinstance(value, Mapping):
        return freeze_data(value)
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return FrozenList([freeze(item) for item in value])
    return value


def freeze_data(data: Mapping[str, Any]) -> FrozenDict:
    """Return the mapping ``data`` as a :class:`FrozenDict`, copying it once."""
    kind = type(data)
    if kind is FrozenDict or kind is ScannedDict:
        return data  # type: ignore[return-value]
    leaves = _LEAVES
    for value in data.values():
        if type(value) not in leaves:
            return FrozenDict({key: freeze(item) for key, item in data.items()})
    return FrozenDict(data)
