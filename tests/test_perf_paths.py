"""The engine's faster ways of building what a fire records behave as the plain ones.

- an event built as a draft and turned into an :class:`Event` (``new_event`` and the
  engine's inline copy) is a real, frozen, weak-referenceable ``Event`` equal to the one
  ``Event(...)`` builds, and pickles, evolves and dumps the same;
- a payload whose ``__init__`` attrs wrote is built without checking the keys first (the
  call refuses them), one with its own ``__init__`` still has them checked;
- :func:`ecomflow.fields.replace` copies a dict-based context's fields whole and still
  refuses an unknown field.
"""

from __future__ import annotations

import pickle
import weakref
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest

from ecomflow import Emit, Event, Flow, InvalidPayload, Label, Money, Stream, Transition
from ecomflow._events import new_event
from ecomflow.fields import replace
from ecomflow.flows.direct_sale import FLOW

from . import toy

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


@attrs.define(init=False)
class _Loose:
    """A payload with its own ``__init__`` taking any keyword: the engine checks the keys."""

    amount: int

    def __init__(self, **fields: Any) -> None:
        self.amount = fields.get("amount", 0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "missing field 'amount'"),
        ({"amount": 1, "colour": "red"}, "unknown field 'colour'; accepted: amount"),
    ],
)
def test_a_payload_with_its_own_init_still_refuses_unknown_and_missing_fields(payload, message):
    flow = Flow(toy.definition(transitions=[_loose_add(), *toy.definition().transitions[1:]]))
    tx = flow.start("L-1", owner="ann")
    with pytest.raises(InvalidPayload, match=message):
        tx.fire("add", **payload)
    assert tx.version == 0
    assert tx.fire("add", amount=3)[0].data == {"amount": 3}


def _loose_add() -> Transition:
    return Transition(
        "add",
        ("a", "b"),
        "b",
        Label("add", "加"),
        payload=_Loose,
        emits=[Emit(Stream.INFORMATION, "added")],
    )


def test_replace_refuses_an_unknown_field_of_a_dict_based_context():
    context = FLOW.definition.start.effect(None, FLOW.definition.start.payload(merchant="M"))
    assert "__dict__" in dir(type(context))
    changed = replace(context, page="home")
    assert (changed.page, context.page, changed.merchant) == ("home", None, "M")
    assert type(changed) is type(context) and changed == attrs.evolve(context, page="home")
    with pytest.raises(TypeError, match=r"has no field\(s\) \['colour'\]"):
        replace(context, colour="red")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        changed.page = "other"  # type: ignore[misc]


def test_typed_calls_of_a_flow_with_deadlines_go_direct_except_its_timed_triggers(monkeypatch):
    """A flow with a timer keeps the typed fast path for its other steps; a timed one is checked.

    The direct sale has a deadline (``expire``): its ordinary typed calls must not fall back
    to ``Transaction.fire`` (that cost ~6k instructions a step), and a typed call of the
    timed trigger must still go through it and be refused before it is due.
    """
    from datetime import timedelta

    from ecomflow import GuardRejected
    from ecomflow.testing import ManualClock

    clock = ManualClock(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))
    tx = FLOW.start("T-1", clock=clock, merchant="Tea House")
    applied: list[str] = []  # Transaction._apply runs only on the way through fire
    original = type(tx)._apply

    def counting(self: Any, trigger: str, payload: Any, who: Any) -> Any:
        applied.append(trigger)
        return original(self, trigger, payload, who)

    monkeypatch.setattr(type(tx), "_apply", counting)
    tx.fill_order(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("88.00", "CNY"),
    )
    tx.choose_payment(method="debit_card", card_last4="4242")
    assert applied == [] and tx.state == "payment_method_chosen"  # straight to the engine
    version = tx.version
    with pytest.raises(GuardRejected) as refused:
        tx.expire()
    assert [name for name, _ in refused.value.reasons] == ["deadline"]
    assert tx.version == version and tx.state == "payment_method_chosen"
    clock.now += timedelta(minutes=31)
    tx.expire()
    assert tx.state == "expired" and applied == ["expire", "expire"]
