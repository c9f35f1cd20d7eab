"""Each transition's fire, written out (ecomflow._compiled), against the engine's general code.

The written-out fire must record exactly what :meth:`Engine._record` records from the same
context, payload and time, for every transition of every built-in flow; optional events
must be numbered as the general code numbers them; and every refusal must still leave the
transaction as it was. Also here: the changes made for speed that a user can see (typed
methods are plain functions, payload values without ``__getattr__``, the default clock).
"""

from __future__ import annotations

import copy
import inspect
import pickle
import random
import traceback
from typing import Any

import attrs
import pytest

from ecomflow import (
    Event,
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
    utc_now,
)
from ecomflow._codec import unstructure
from ecomflow._events import _EventDraft
from ecomflow._flow import TriggerMethod
from ecomflow._frozen import FrozenDict, FrozenList, ScannedDict
from ecomflow.flows import FLOWS
from ecomflow.flows.direct_sale.terms import OrderForm, PaymentChoice
from ecomflow.store import MemoryStore, Repository

CARD = "4111 1111 1111 1111"


def _checked(flow: Flow[Any], seen: list[str]) -> Flow[Any]:
    """Return a new flow like ``flow`` whose compiled fires are compared with ``_record``."""
    fresh: Flow[Any] = Flow(flow.definition, flow.transaction_type)
    engine = fresh.engine
    for step in {id(step): step for step in engine._steps.values()}.values():
        run = step.run

        def checking(*args: Any, _run: Any = run, _step: Any = step) -> Any:
            tx_id, configuration, version, _, kwargs, _, who = args
            context, events = _run(*args)
            payload = None if _step.payload is None else _step.payload(**kwargs)
            expected = engine._record(
                _step,
                tx_id,
                version + 1,
                _step.spec.trigger,
                context,
                payload,
                events[0].occurred_at,
                who,
                configuration,
            )
            assert type(events) is tuple and all(type(event) is Event for event in events)
            assert list(events) == expected, _step.spec.trigger
            for got, want in zip(events, expected, strict=True):
                assert type(got.data) is type(want.data), (_step.spec.trigger, got.name)
            seen.append(_step.spec.trigger)
            return context, events

        object.__setattr__(step, "run", checking)  # before any move is cached
    return fresh


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_written_out_fire_records_what_the_general_code_records(name):
    """The sample's random scenarios: most branches of each flow, optional events too.

    (Every transition is driven, through the written-out fires, by the testing kit's own
    tests; here each fire is compared event by event with the general code.)
    """
    seen: list[str] = []
    flow = _checked(FLOWS[name], seen)
    repo = Repository(MemoryStore(), {name: flow})
    rng = random.Random(12)
    scenario = FLOWS.scenario(name)
    for number in range(60):
        scenario(rng, repo, f"{name}-{number}")
    walked = set(seen)
    assert len(walked) >= len(flow.triggers) * 3 // 5, sorted(set(flow.triggers) - walked)


# -- a small flow with optional events and derived data -----------------------------------

FIRST = EventType("first", Stream.INFORMATION, Label("First", "第一"))
MAYBE = EventType("maybe", Stream.COMMERCE, Label("Maybe", "也许"))
LAST = EventType("last", Stream.MONEY, Label("Last", "最后"))
OPENED = EventType("opened", Stream.INFORMATION, Label("Opened", "开始"))


@attrs.frozen
class Note:
    text: str
    extra: Any = None
    maybe: bool = False
    parts: tuple[str, ...] = ()  # short digit groups: clean one by one, a card number joined


def _maybe(context: Any, payload: Note) -> bool:
    return payload.maybe


def _derived(context: Any, payload: Note) -> Any:
    if payload.extra == "scanned":
        return Money("1.00", "CNY").to_json()  # a ScannedDict: kept as it is
    joined = "".join(payload.parts)
    if payload.extra == "flat":
        return {"echo": payload.text, "extra": joined}
    if payload.extra == "deep":
        return {"echo": payload.text, "extra": {"deep": [joined]}}
    if payload.extra == "key":
        return {"echo": payload.text, "extra": {joined: 1}}
    return {"echo": payload.text, "extra": payload.extra}


def _effect(context: Any, payload: Note) -> Any:
    if payload.text == "boom":
        raise RuntimeError("the effect broke")
    return context


DEFINITION = FlowDefinition(
    name="compiled_desk",
    title=Label("Desk", "前台"),
    source="test",
    states=[State("open", Label("Open", "营业")), State("done", Label("Done", "完成"), True)],
    start=Transition("open_desk", (), "open", Label("Open", "开台"), [OPENED.emit()]),
    transitions=[
        Transition(
            "send",
            "open",
            "done",
            Label("Send", "发送"),
            [FIRST.emit(), MAYBE.emit(_derived, when=_maybe), LAST.emit(_derived)],
            payload=Note,
            effect=_effect,
        ),
    ],
    context_type=type(None),
)


class Desk(Transaction[None]):
    @trigger
    def send(
        self, *, text: str, extra: Any = None, maybe: bool = False, parts: tuple[str, ...] = ()
    ) -> None:
        """Send the note."""


FLOW = Flow(DEFINITION, Desk)


@pytest.mark.parametrize("maybe", [False, True])
def test_optional_events_are_numbered_as_recorded(maybe, clock):
    tx = FLOW.start("C-1", clock=clock)
    events = tx.send(text="hi", maybe=maybe)
    names = ["first", "maybe", "last"] if maybe else ["first", "last"]
    assert [event.name for event in events] == names
    assert [event.seq for event in events] == list(range(len(names)))
    assert type(events) is tuple and list(tx.events[1:]) == list(events)
    assert events[-1].data == {"echo": "hi", "extra": None}


def test_derived_data_is_frozen_and_scanned_at_any_depth(clock):
    tx = FLOW.start("C-2", clock=clock)
    _, last = tx.send(text="hi", extra={"lines": ["a", {"b": 1}]})
    data = last.data
    assert type(data) is ScannedDict
    assert type(data["extra"]) is FrozenDict and type(data["extra"]["lines"]) is FrozenList
    with pytest.raises(TypeError, match="read-only"):
        data["extra"]["lines"].append("c")


def test_a_scanned_dict_from_a_data_function_is_kept_as_it_is(clock):
    tx = FLOW.start("C-3", clock=clock)
    _, last = tx.send(text="hi", extra="scanned")
    assert last.data is Money("1.00", "CNY").to_json()


@pytest.mark.parametrize(
    ("extra", "where"),
    [("flat", "last.extra"), ("deep", "last.extra.deep[0]"), ("key", "last.extra.<key>")],
)
def test_a_card_number_in_derived_data_is_named_and_changes_nothing(extra, where, clock):
    tx = FLOW.start("C-4", clock=clock)
    before = (tx.state, tx.version, list(tx.events))
    with pytest.raises(InvalidPayload) as refused:
        tx.send(text="hi", extra=extra, parts=tuple(CARD.split()))
    assert f"{where} looks like a full card number" in str(refused.value)
    assert CARD not in str(refused.value) and refused.value.zh
    assert (tx.state, tx.version, list(tx.events)) == before


def test_a_failing_effect_shows_the_written_out_line_in_its_traceback(clock):
    tx = FLOW.start("C-5", clock=clock)
    with pytest.raises(RuntimeError, match="the effect broke") as raised:
        tx.send(text="boom")
    text = "".join(traceback.format_exception(raised.value))
    assert "<ecomflow compiled compiled_desk.send" in text
    assert "new_context = effect(context, payload)" in text  # the source line is shown
    assert tx.version == 0


# -- what a user can see of the changes ---------------------------------------------------


def test_a_typed_method_is_a_plain_function_carrying_its_declaration(clock):
    method = vars(Desk)["send"]
    assert inspect.isfunction(method) and isinstance(method.__trigger__, TriggerMethod)
    assert method.parameters == {"text", "extra", "maybe", "parts"}
    assert method.required == {"text"}
    assert method.__qualname__.endswith("Desk.send") and method.__doc__ == "Send the note."
    tx = FLOW.start("C-6", clock=clock)
    assert list(inspect.signature(tx.send).parameters) == ["text", "extra", "maybe", "parts"]


def test_hot_value_types_have_no_getattr_hook():
    """A ``__getattr__`` (attrs writes one for a cached_property) slows every attribute read."""
    for cls in (Money, OrderForm, PaymentChoice, Event):
        assert "__getattr__" not in vars(cls), cls


def test_an_order_form_keeps_its_total_through_pickle_and_copy():
    form = OrderForm(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="tea",
        quantity=3,
        specification="tin",
        unit_price=Money("19.90", "CNY"),
    )
    assert form.total == Money("59.70", "CNY")
    for twin in (pickle.loads(pickle.dumps(form)), copy.copy(form), copy.deepcopy(form)):
        assert twin == form and twin.total == form.total
    assert attrs.evolve(form, quantity=1).total == Money("19.90", "CNY")
    assert "total" not in unstructure(form)  # worked out, not recorded


def test_events_add_nothing_to_their_drafts_layout():
    assert Event.__basicsize__ == _EventDraft.__basicsize__ and Event.__slots__ == ()
    assert [field.name for field in attrs.fields(Event)] == list(_EventDraft.__slots__[1:])


def test_payload_values_are_recorded_as_before():
    choice = PaymentChoice(method="credit_card", card_last4="1111")
    assert unstructure(choice) == {"method": "credit_card", "card_last4": "1111", "token": None}


def test_the_default_clock_gives_utc_and_is_documented(clock):
    assert utc_now.__doc__ and utc_now().tzinfo is not None
    assert utc_now().utcoffset() is not None and utc_now().utcoffset().total_seconds() == 0
    tx = FLOW.start("C-7")
    (first, _) = tx.send(text="hi")
    assert first.occurred_at.utcoffset().total_seconds() == 0
