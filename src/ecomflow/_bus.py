"""In-memory subscriptions: handlers that see each event once, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import final

import attrs

from ._events import Event, Stream

__all__ = ["EventBus", "Handler", "Subscription"]

Handler = Callable[[Event], object]
"""A function called with each event; its return value is ignored."""


@final
@attrs.define(eq=False)
class Subscription:
    """A handler registered on an :class:`EventBus`; :meth:`cancel` removes it."""

    handler: Handler
    streams: frozenset[Stream]
    _bus: EventBus = attrs.field(repr=False)

    def wants(self, event: Event) -> bool:
        """Whether this subscription receives ``event``."""
        return not self.streams or event.stream in self.streams

    def cancel(self) -> None:
        """Stop delivering events to the handler (idempotent)."""
        self._bus.unsubscribe(self)


@final
class EventBus:
    """Delivers published events, in order, to every subscribed handler.

    Pass a bus to :meth:`Flow.start` (or :meth:`Flow.replay`) and the transaction
    publishes the events of each transition once it is applied::

        bus = EventBus()
        bus.subscribe(ledger.post, Stream.MONEY)   # one stream
        bus.subscribe(audit.append)                # all four

    A failing handler does not stop delivery to the others; the transaction then
    raises :class:`SubscriberError` after delivery, with the transition applied.
    """

    __slots__ = ("_subscriptions",)

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, handler: Handler, *streams: Stream) -> Subscription:
        """Call ``handler`` for each event of ``streams`` (all streams if none given)."""
        subscription = Subscription(handler, frozenset(Stream(s) for s in streams), self)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove ``subscription``; removing it twice does nothing."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, events: Iterable[Event]) -> Sequence[BaseException]:
        """Deliver ``events`` in order; return the exceptions handlers raised, if any."""
        errors: list[BaseException] = []
        subscriptions = tuple(self._subscriptions)
        for event in events:
            for subscription in subscriptions:
                if subscription.wants(event):
                    try:
                        subscription.handler(event)
                    except Exception as error:
                        errors.append(error)
        return errors
