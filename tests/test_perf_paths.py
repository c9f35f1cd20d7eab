"""The engine's faster ways of building what a fire records behave as the plain ones.

- an event built as a draft and turned into an :class:`Event` (``new_event`` and the
  engine's inline copy) is a real, frozen, weak-referenceable ``Event`` equal to the one
  ``Event(...)`` builds, and pickles, evolves and dumps the same.
"""

from __future__ import annotations

import pickle
import weakref
from datetime import datetime, timezone

import attrs
import pytest

from ecomflow import Event, Money, Stream
from ecomflow._events import new_event
from ecomflow.flows.direct_sale import FLOW

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
FIELDS = ("A-1", 3, 1, "settle", Stream.MONEY, "payment_settled", {"amount": "1.00"}, NOW)
WHO = ("clerk", "cmd-1", "order-1")


def test_a_drafted_event_is_the_event_its_fields_make():
    built = new_event(*FIELDS, *WHO, 2)
    made = Event(*FIELDS, *WHO, 2)
    assert type(built) is Event and built == made and repr(built) == repr(made)
    assert attrs.asdict(built) == attrs.asdict(made)
    assert pickle.loads(pickle.dumps(built)) == made
    assert attrs.evolve(built, seq=2) == attrs.evolve(made, seq=2)
    assert built.to_json() == made.to_json() and Event.from_json(built.to_json()) == made
    assert weakref.ref(built)() is built
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.seq = 9  # type: ignore[misc]
    with pytest.raises(AttributeError):
        built.extra = 1  # type: ignore[attr-defined]


def test_the_events_a_fire_records_are_real_frozen_events():
    tx = FLOW.start("P-1", merchant="Tea House")
    events = tx.fill_order(
        customer_name="Li Lei",
        address="1 Chang'an Avenue",
        goods_name="green tea",
        quantity=2,
        specification="250 g tin",
        unit_price=Money("19.90", "CNY"),
    )
    assert events and all(type(event) is Event for event in events)
    for event in tx.events:
        assert Event.from_json(event.to_json()) == event
        assert pickle.loads(pickle.dumps(event)) == event
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            event.name = "changed"  # type: ignore[misc]
