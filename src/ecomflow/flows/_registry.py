"""The registry of flows: the ones ecomflow ships and the ones installed packages declare.

A flow package (ecomflow's own, or a third party's) is a module with ``FLOW``, a
:class:`~ecomflow.Flow`, and optionally ``SAMPLE``, a :class:`Sample` saying how to drive
it with valid payloads (in the module itself, or in the package's ``sample`` module). A
distribution makes its flows known by naming such modules in the ``ecomflow.flows``
entry-point group of its ``pyproject.toml``::

    [project.entry-points."ecomflow.flows"]
    returns = "shop_returns"

:data:`FLOWS`, ``ecomflow list / show / demo / simulate`` and :mod:`ecomflow.testing`
then find the flow under its name, with no change to ecomflow.
"""

from __future__ import annotations

import importlib
import random
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, final

import attrs

from .._errors import InvalidDefinition, NoSample
from .._events import Event
from .._flow import Flow, Transaction

if TYPE_CHECKING:
    from ..store import Repository

__all__ = [
    "ENTRY_POINT_GROUP",
    "FLOWS",
    "DemoStep",
    "PluginWarning",
    "Registry",
    "Sample",
    "Scenario",
    "sample_of",
]

ENTRY_POINT_GROUP = "ecomflow.flows"
"""The entry-point group that installed packages declare their flow packages in."""

RESERVED_NAMES = frozenset({"exchange"})
"""Flow names ecomflow uses beside its registry (the exchange's records): no plug-in takes one."""

DemoStep = tuple[str, Mapping[str, Any]]
"""A trigger and its keyword arguments (the payload, and ``actor`` where one is needed)."""

Scenario = Callable[[random.Random, "Repository", str], Transaction[Any]]
"""``scenario(rng, repo, tx_id)``: drive one random, valid transaction through ``repo``."""

Begin = Callable[[], tuple[Transaction[Any], Sequence[Event]]]
"""Start the demo's transaction elsewhere; return it and the events recorded before it."""


def _to_steps(value: Iterable[Sequence[Any]]) -> tuple[DemoStep, ...]:
    try:
        steps = tuple(tuple(step) for step in value)
    except TypeError:
        raise InvalidDefinition(
            f"Sample steps {value!r} are not a sequence of (trigger, keyword arguments) pairs "
            "such as ('settle', {'statement_ref': 'STMT-1'})"
        ) from None
    for step in steps:
        if len(step) != 2 or not isinstance(step[0], str) or not isinstance(step[1], Mapping):
            raise InvalidDefinition(
                f"Sample step {step!r} is not a (trigger, keyword arguments) pair such as "
                "('settle', {'statement_ref': 'STMT-1'})"
            )
    return steps


def _check_start(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Mapping) or not all(type(key) is str for key in value):
        raise InvalidDefinition(
            f"Sample {field.name} {value!r} is not a mapping of the start payload's fields"
        )


def _callable(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise InvalidDefinition(f"Sample {field.name} {value!r} is not callable")


@final
@attrs.frozen
class Sample:
    """How to drive a flow with valid payloads: what ``demo`` and ``simulate`` run.

    ``start`` is the demo's start payload and ``steps`` the triggers it walks, each with
    its keyword arguments (the payload, and ``actor`` where one is needed); ``begin``,
    for a flow whose transactions are started by something else (an exchange matching a
    trade), replaces ``start``. ``scenario(rng, repo, tx_id)`` drives one random, valid
    transaction through a repository, for ``simulate``. A flow package declares its
    sample as ``SAMPLE`` in its ``sample`` module.
    """

    start: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_start)
    steps: tuple[DemoStep, ...] = attrs.field(default=(), converter=_to_steps)
    scenario: Scenario | None = attrs.field(default=None, eq=False, validator=_callable)
    begin: Begin | None = attrs.field(default=None, eq=False, validator=_callable)

    def start_demo(
        self, flow: Flow[Any], tx_id: str | None = None, **options: Any
    ) -> tuple[Transaction[Any], list[Event]]:
        """Start the demo's transaction; return it and the events recorded before it.

        ``options`` go to :meth:`Flow.start` (a clock, a bus); with ``begin``, that
        starts it instead, and the events before it are those it returns (an
        exchange's postings and match). The transaction is ``<flow>-demo-1`` unless
        ``tx_id`` says otherwise.
        """
        if self.begin is not None:
            tx, before = self.begin()
            return tx, [*before]
        return flow.start(tx_id or f"{flow.name}-demo-1", **options, **self.start), []

    def demo(
        self, flow: Flow[Any], tx_id: str | None = None, **options: Any
    ) -> tuple[Transaction[Any], list[Event]]:
        """Start the demo's transaction and walk every step; return it and the events before it.

        >>> from ecomflow.flows import FLOWS
        >>> tx, before = FLOWS.sample("operation").demo(FLOWS["operation"])
        >>> tx.state, before
        ('delivered', [])
        """
        tx, before = self.start_demo(flow, tx_id, **options)
        for trigger, kwargs in self.steps:
            tx.fire(trigger, **kwargs)
        return tx, before


@attrs.frozen
class _Entry:
    flow: Flow[Any]
    sample: Sample | None
    module: str | None  # the flow package, where its ``sample`` module belongs


class PluginWarning(RuntimeWarning):
    """A flow plug-in was left out: it failed to load, or its flow's name is taken."""


def _entry(found: object, where: str) -> _Entry:
    """Return the flow (and sample) that a flow package or a Flow object gives."""
    if isinstance(found, Flow):
        return _Entry(found, None, None)
    flow = getattr(found, "FLOW", None)
    sample = getattr(found, "SAMPLE", None)
    if sample is None and isinstance(found, ModuleType) and hasattr(found, "__path__"):
        try:  # a flow package keeps its sample in its ``sample`` module
            sample = getattr(importlib.import_module(f"{found.__name__}.sample"), "SAMPLE", None)
        except ModuleNotFoundError as error:
            if error.name != f"{found.__name__}.sample":
                raise
    if not isinstance(flow, Flow):
        raise InvalidDefinition(f"{where} has no FLOW that is an ecomflow.Flow")
    if sample is not None and not isinstance(sample, Sample):
        raise InvalidDefinition(f"{where}'s SAMPLE is not an ecomflow.flows.Sample")
    module = found.__name__ if isinstance(found, ModuleType) else None
    return _Entry(flow, sample, module)


class Registry(Mapping[str, Flow[Any]]):
    """A read-only mapping of flow name to :class:`~ecomflow.Flow`, plug-ins included.

    Built from the packages given, then, on first use, from every module the
    ``ecomflow.flows`` entry-point group names. A plug-in that fails to load, or that
    reuses a name already taken, is left out with a warning naming it; it never breaks
    the flows that load.
    """

    def __init__(self, packages: Sequence[ModuleType]) -> None:
        builtin: dict[str, _Entry] = {}
        for package in packages:
            entry = _entry(package, package.__name__)
            if entry.flow.name in builtin:
                raise InvalidDefinition(
                    f"Two flow packages are named {entry.flow.name!r}: "
                    f"{builtin[entry.flow.name].module} and {package.__name__}."
                )
            builtin[entry.flow.name] = entry
        self._builtin = builtin
        self._entries: dict[str, _Entry] | None = None
        # Discovery imports plug-ins, which may read the registry themselves: the lock is
        # re-entrant, and the thread discovering sees the entries found so far.
        self._lock = threading.RLock()
        self._partial: dict[str, _Entry] | None = None

    def _loaded(self) -> dict[str, _Entry]:
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is not None:
                    return self._entries
                if self._partial is not None:  # a plug-in being imported reads the registry
                    return self._partial
                problems: list[str] = []
                self._partial = dict(self._builtin)
                try:
                    self._discover(self._partial, problems)
                    self._entries = entries = self._partial
                finally:
                    self._partial = None
            for problem in problems:  # after the entries are kept: a warning made an
                warnings.warn(problem, PluginWarning, stacklevel=3)  # error breaks nothing
        return entries

    def _discover(self, entries: dict[str, _Entry], problems: list[str]) -> None:
        """Add every plug-in the entry points name to ``entries``; note what is left out."""
        for point in entry_points(group=ENTRY_POINT_GROUP):
            where = f"ecomflow.flows entry point {point.name!r} ({point.value})"
            try:
                entry = _entry(point.load(), where)
            except Exception as error:  # a broken plug-in must not break the others
                problems.append(f"{where} was not loaded: {error}")
                continue
            name = entry.flow.name
            if name in entries or name in RESERVED_NAMES:
                if name in RESERVED_NAMES or entries[name].flow is not entry.flow:
                    problems.append(
                        f"{where} was not loaded: a flow named {name!r} is already registered"
                    )
                continue
            entries[name] = entry

    def refresh(self) -> None:
        """Look for plug-ins again on next use (after installing a package at run time)."""
        importlib.invalidate_caches()
        with self._lock:
            self._entries = None

    def sample(self, name: str) -> Sample:
        """Return the :class:`Sample` of flow ``name``; :class:`~ecomflow.NoSample` if none.

        ``KeyError`` if there is no flow of that name.
        """
        entry = self._loaded()[name]
        if entry.sample is None:
            where = (
                "its package's sample module"
                if entry.module is None
                else (f"{entry.module}.sample")
            )
            raise NoSample(
                f"Flow {name!r} has no sample, so it cannot be demonstrated or simulated: "
                f"add SAMPLE = ecomflow.flows.Sample(...) to {where} "
                "(see docs/defining-flows.md).",
                flow=name,
            )
        return entry.sample

    def scenario(self, name: str) -> Scenario:
        """Return flow ``name``'s random scenario; :class:`~ecomflow.NoSample` if it has none.

        ``KeyError`` if there is no flow of that name.
        """
        scenario = self.sample(name).scenario
        if scenario is None:
            raise NoSample(
                f"Flow {name!r} has a sample without a scenario, so it cannot be simulated: "
                "give its Sample a scenario(rng, repo, tx_id) that drives one random, valid "
                "transaction (see docs/defining-flows.md).",
                flow=name,
            )
        return scenario

    def __getitem__(self, name: str) -> Flow[Any]:
        return self._loaded()[name].flow

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"<flows: {', '.join(sorted(self))}>"


def _builtin_packages() -> list[ModuleType]:
    from . import b2b, direct_sale, intermediary, operation

    return [b2b, direct_sale, intermediary, operation]


FLOWS: Registry = Registry(_builtin_packages())
"""Every flow ecomflow ships and every flow an installed package declares, by name."""


def sample_of(name: str) -> Sample:
    """Return the :class:`Sample` of the flow called ``name`` (see :meth:`Registry.sample`)."""
    return FLOWS.sample(name)
