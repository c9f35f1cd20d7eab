"""Report public names as the public module that exports them (``ecomflow.GuardRejected``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

__all__ = ["publish"]


def publish(namespace: Mapping[str, object], module: str, names: Iterable[str]) -> None:
    """Set ``__module__`` of each public class and function in ``names`` to ``module``.

    Tracebacks, ``repr`` and the docs then show ``ecomflow.GuardRejected`` rather than
    the private module that defines it; pickling still finds the class there.
    """
    for name in names:
        value = namespace[name]
        if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__.startswith(
            "ecomflow."
        ):
            value.__module__ = module
