"""Report public errors as the public module that exports them (``ecomflow.GuardRejected``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["publish"]


def publish(namespace: Mapping[str, object], module: str, names: Iterable[str]) -> None:
    """Set ``__module__`` of each public exception class in ``names`` to ``module``.

    Tracebacks then show ``ecomflow.GuardRejected`` rather than the private module that
    defines it, and pickling finds the class under its public name. Only exceptions:
    attrs and cattrs resolve a class's string annotations in the module ``__module__``
    names, which for a value type must stay the module that defines it.
    """
    for name in names:
        value = namespace[name]
        if (
            isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__.startswith("ecomflow.")
        ):
            value.__module__ = module
