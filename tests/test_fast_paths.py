"""The hot path's shortcuts (issue 12, speed) behave exactly as the long way round.

- a typed method that names nobody goes straight to the engine: same events, state,
  version and bus as ``fire``; one that names an actor, or a transaction class that
  overrides ``fire``, still goes through ``fire``;
- Money's JSON is made once per value and shared by equal values, read-only;
- the first event's data (payload over derived keys) is merged once and still scanned.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from ecomflow import (
    EventType,
    Flow,
    FlowDefinition,
    InvalidPayload,
    Label,
    Money,
    State,
    Stream,
    Transaction,
    Transition,
    trigger,
)
from ecomflow._bus import EventBus
from ecomflow._frozen import ScannedDict

from .conftest import TickingClock

CARD = "4111 1111 1111 1111"


@attrs.frozen
class _Note:
    text: str
    price: Money


def _derived(context: Any, payload: _Note) -> dict[str, Any]:
    return {"price": "derived, overwritten", "echo": payload.text, "total": payload.price.to_json()}


def _definition() -> FlowDefinition:
    sent = EventType("note_sent", Stream.INFORMATION, Label("Note sent", "便条已发送"))
    told = EventType("note_told", Stream.COMMERCE, Label("Note told", "便条已告知"))
    opened = EventType("desk_opened", Stream.INFORMATION, Label("Desk opened", "开台"))
    return FlowDefinition(
        name="fast_desk",
        title=Label("Desk", "前台"),
        source="test",
        states=[State("open", Label("Open", "营业")), State("done", Label("Done", "完成"), True)],
        start=Transition(
            "open_desk", (), "open", Label("Open", "开台"), [opened.emit()], payload=None
        ),
        transitions=[
            Transition(
                "send",
                "open",
                "done",
                Label("Send", "发送"),
                [sent.emit(_derived), told.emit(lambda c, p: {"text": p.text})],
                payload=_Note,
            ),
        ],
        context_type=type(None),
    )


class Desk(Transaction[None]):
    @trigger
    def send(self, *, text: str, price: Money, actor: str | None = None) -> None:
        """Send the note."""


FLOW = Flow(_definition(), Desk)
PRICE = Money("19.90", "CNY")


def test_a_typed_call_equals_fire_and_publishes():
    bus = EventBus()
    seen: list[Any] = []
    bus.subscribe(seen.append)
    typed = FLOW.start("D-1", clock=TickingClock(), bus=bus)
    fired = FLOW.start("D-1", clock=TickingClock())
    events = typed.send(text="hello", price=PRICE)
    assert type(events) is tuple
    assert events == fired.fire("send", text="hello", price=PRICE)
    assert typed == fired and typed.version == 1 and typed.state == "done"
    assert list(typed.events[1:]) == list(events) and seen[-2:] == list(events)
    assert Desk.send.__doc__ == "Send the note."
    assert typed.send.__doc__ == "Send the note." and typed.send.__name__ == "send"


def test_a_typed_call_naming_an_actor_is_checked_by_fire(clock):
    tx = FLOW.start("D-2", clock=clock)
    with pytest.raises(InvalidPayload, match="actor must be a non-empty string"):
        tx.send(text="hello", price=PRICE, actor=" ")
    assert tx.version == 0
    assert tx.send(text="hello", price=PRICE, actor="clerk")[0].actor == "clerk"


def test_a_typed_call_goes_through_an_overridden_fire(clock):
    calls: list[tuple[str, dict[str, Any]]] = []

    class Logged(Desk):
        def fire(self, trigger: str, /, **payload: Any) -> Any:
            calls.append((trigger, payload))
            return super().fire(trigger, **payload)

    tx = Flow(_definition(), Logged).start("D-3", clock=clock)
    tx.send(text="hello", price=PRICE)
    assert calls == [("send", {"text": "hello", "price": PRICE})]


def test_the_first_event_merges_the_payload_over_derived_data_and_is_scanned(clock):
    tx = FLOW.start("D-4", clock=clock)
    sent, told = tx.send(text="hello", price=PRICE)
    assert type(sent.data) is ScannedDict and type(told.data) is ScannedDict
    assert list(sent.data.items()) == [
        ("price", {"amount": "19.90", "currency": "CNY"}),  # the payload wins, in place
        ("echo", "hello"),
        ("total", {"amount": "19.90", "currency": "CNY"}),
        ("text", "hello"),
    ]
    with pytest.raises(TypeError, match="read-only"):
        sent.data["echo"] = "changed"  # type: ignore[index]
    tx = FLOW.start("D-5", clock=clock)
    with pytest.raises(InvalidPayload, match=r"'D-5' in state 'open': echo looks like a full"):
        tx.send(text=CARD, price=PRICE)
    assert tx.version == 0 and len(tx.events) == 1


def test_money_json_is_made_once_and_shared_by_equal_values():
    first, second = Money("19.9", "CNY"), Money("19.90", "CNY")
    assert first.to_json() is first.to_json() is second.to_json()
    assert first.to_json() == {"amount": "19.90", "currency": "CNY"}
    assert type(first.to_json()) is ScannedDict
    assert Money("-0.01", "CNY").to_json() == {"amount": "-0.01", "currency": "CNY"}
    assert Money("5", "JPY").to_json() == {"amount": "5", "currency": "JPY"}
    with pytest.raises(TypeError, match="read-only"):
        first.to_json()["amount"] = "0"
    assert (
        first == second and hash(first) == hash(second) and repr(first) == "Money('19.90', 'CNY')"
    )


def test_only_a_payload_that_can_hold_a_time_is_looked_through_for_named_zones():
    """A named zone's time is taken at its fixed offset where a field can hold a time."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from ecomflow import Money
    from ecomflow.flows import FLOWS

    b2b, sale = FLOWS["b2b"].engine, FLOWS["direct-sale"].engine
    assert {step.spec.trigger for step in b2b._steps.values() if step.takes_times} == {
        "offer",
        "counter_offer",
        "draw_up",
    }
    assert not any(step.takes_times for step in sale._steps.values())
    tx = FLOWS["b2b"].start("Z-1", buyer="mill", seller="coop")
    tx.fire("prepare", by="seller", note="stock checked")
    until = datetime(2030, 1, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    tx.fire(
        "offer", by="seller", goods="rice", quantity=2, price=Money("3", "CNY"), valid_until=until
    )
    assert tx.context.offer is not None
    recorded = tx.context.offer.valid_until
    assert recorded == until and recorded.utcoffset() == timedelta(hours=8)
    assert type(recorded.tzinfo) is not ZoneInfo  # at its fixed offset, as the store gives it
