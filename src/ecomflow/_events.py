"""Events and the four streams (四流) they are recorded in."""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, final

import attrs
from cattrs.gen import make_dict_structure_fn, override

from ._codec import converter, structure, unstructure
from ._errors import InvalidPayload
from ._frozen import freeze_data

__all__ = ["Clock", "Event", "Stream", "check_now", "utc_now"]

Clock = Callable[[], datetime]
"""A function returning the current time as an aware ``datetime``."""


utc_now: Clock = functools.partial(datetime.now, timezone.utc)
# A partial, not a def: the default clock is read on every fire, and this one calls
# ``datetime.now(timezone.utc)`` from C, with no Python frame.
utc_now.__doc__ = """Return the current time in UTC: the default clock."""


def check_now(now: object, clock: object, subject: str) -> datetime:
    """Return ``now`` at its fixed UTC offset if it is an aware ``datetime``, else raise.

    ``clock`` is the clock that returned it and ``subject`` begins the message, e.g.
    ``"Cannot start direct_sale transaction 'A-1'"``. Naive times cannot be ordered
    against aware ones, and a history must say in which time zone it happened.

    A time in a named zone (``ZoneInfo("Europe/Berlin")``) comes back with the offset it
    has at that instant (``+01:00``), as a stored event's time is read back: so that an
    effect or guard adding days to it gives the same answer in the process that fired
    and in every process that loads the transaction later.
    """
    if isinstance(now, datetime) and now.tzinfo is not None:
        offset = now.utcoffset()
        if offset is not None:
            return now if type(now.tzinfo) is timezone else now.astimezone(timezone(offset))
    name = getattr(clock, "__qualname__", None) or type(clock).__name__
    problem = "a naive datetime (no tzinfo)" if isinstance(now, datetime) else repr(now)
    raise InvalidPayload(
        f"{subject}: the clock {name} returned {problem}; a clock must return an aware "
        "datetime, such as datetime.now(timezone.utc)."
    )


class Stream(enum.Enum):
    """The four flows of e-commerce from the seeds: 信息流, 商流, 资金流, 物流."""

    INFORMATION = "information"
    COMMERCE = "commerce"
    MONEY = "money"
    LOGISTICS = "logistics"

    @property
    def zh(self) -> str:
        """The Chinese name of the stream, e.g. ``资金流`` for MONEY."""
        return _ZH[self]

    def __str__(self) -> str:
        return self.value


_ZH = {
    Stream.INFORMATION: "信息流",
    Stream.COMMERCE: "商流",
    Stream.MONEY: "资金流",
    Stream.LOGISTICS: "物流",
}


_FIELDS = (
    "tx_id",
    "version",
    "seq",
    "trigger",
    "stream",
    "name",
    "data",
    "occurred_at",
    "actor",
    "causation_id",
    "correlation_id",
    "flow_version",
)


class _EventDraft:
    """An :class:`Event` being built, and its base: every slot, set by plain stores.

    ``Event`` declares these fields; attrs finds their slots here and adds none, so
    ``Event`` has this class's layout exactly. The engine's hot path sets the twelve
    fields of a draft with plain attribute stores, which the interpreter specialises,
    then makes it an ``Event`` by assigning ``__class__``: allowed, and checked in a
    few steps, since ``Event`` only adds methods to its base. That is far fewer
    instructions than setting each slot of a frozen ``Event`` through its descriptor,
    or than the frozen class's ``__init__``.
    """

    __slots__ = ("__weakref__", *_FIELDS)


@final
@attrs.frozen  # slotted: no __dict__, one object fewer per event for the collector to scan
class Event(_EventDraft):
    """Something that happened to a transaction, recorded in one of the four streams.

    ``version`` is the number of the transition that emitted the event (``0`` for
    the events recorded when the transaction started); the events of one
    transition share it and are ordered by ``seq``. ``trigger`` names the
    transition.

    Who did what: ``actor`` is the party, role or system that caused the event (``None``
    when nobody was named), ``causation_id`` the command that caused it (its idempotency
    key or a generated id) and ``correlation_id`` the business process it belongs to.
    ``flow_version`` is the version of the flow definition that wrote it; older events
    are upcast on load. None of the four changes what a replay computes.

    ``data`` is JSON-safe and deeply read-only (a ``dict`` whose nested
    dicts and lists refuse every change), however the event was made: by the engine,
    from JSON or by a store, so recorded history cannot be rewritten in memory.
    """

    tx_id: str
    version: int
    seq: int
    trigger: str
    stream: Stream
    name: str
    data: Mapping[str, Any] = attrs.field(converter=freeze_data)
    occurred_at: datetime
    actor: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    flow_version: int = 1

    @property
    def event_id(self) -> str:
        """A stable, unique id: ``"<tx_id>:<version>:<seq>"``."""
        return f"{self.tx_id}:{self.version}:{self.seq}"

    def to_json(self) -> dict[str, Any]:
        """Return the event as a JSON-safe dict."""
        data: dict[str, Any] = unstructure(self)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_json`'s output."""
        return structure(data, cls)

    def dumps(self) -> str:
        """Return the event as a JSON string."""
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True)


# Resolved now, while the names in the annotations are at hand: the class is published
# as ``ecomflow.Event``, where cattrs could no longer find ``Mapping`` and ``datetime``.
attrs.resolve_types(Event)
# JSON gives fresh dicts and lists: freeze them as they are structured, copying once.
converter.register_structure_hook(
    Event,
    make_dict_structure_fn(
        Event,
        converter,
        _cattrs_forbid_extra_keys=True,
        data=override(struct_hook=lambda value, _: freeze_data(value)),
    ),
)


# Event must add nothing to its draft's layout (see _EventDraft).
assert tuple(field.name for field in attrs.fields(Event)) == _FIELDS
assert Event.__basicsize__ == _EventDraft.__basicsize__


_new_object = object.__new__


def new_event(
    tx_id: str,
    version: int,
    seq: int,
    trigger: str,
    stream: Stream,
    name: str,
    data: Mapping[str, Any],
    occurred_at: datetime,
    actor: str | None,
    causation_id: str | None,
    correlation_id: str | None,
    flow_version: int,
) -> Event:
    """Return the :class:`Event` of these fields; ``data`` must already be frozen.

    For the engine's hot path, which freezes and scans ``data`` itself: equal to
    ``Event(...)`` with the same arguments.
    """
    event: Any = _new_object(_EventDraft)
    event.tx_id = tx_id
    event.version = version
    event.seq = seq
    event.trigger = trigger
    event.stream = stream
    event.name = name
    event.data = data
    event.occurred_at = occurred_at
    event.actor = actor
    event.causation_id = causation_id
    event.correlation_id = correlation_id
    event.flow_version = flow_version
    event.__class__ = Event
    built: Event = event
    return built
