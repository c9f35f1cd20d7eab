"""Who did what: actor, causation and correlation on every event (issue 11).

The repository tests use a memory store only (the ``mem_repo`` fixture): the SQLite
and PostgreSQL stores are being rewritten for schema version 3 elsewhere.
"""

import json
import re

import attrs
import pytest

from ecomflow import FLOWS, Event, GuardRejected, InvalidDefinition, InvalidPayload, Money
from ecomflow.flows.b2b import FLOW as B2B
from ecomflow.flows.direct_sale import FLOW as DIRECT_SALE
from ecomflow.store import MemoryStore, Repository

from . import toy

ORDER = dict(
    customer_name="Li",
    address="Beijing",
    goods_name="tea",
    quantity=2,
    specification="tin",
    unit_price=Money("30", "CNY"),
)
DEAL = dict(goods="cotton lint", quantity=200, price=Money("15500", "CNY"))
CARD = "4111111111111111"


@pytest.fixture
def mem_repo():
    return Repository(MemoryStore(), FLOWS)


def _state(tx):
    return (tx.state, tx.version, tx.context, tuple(tx.events))


def test_fire_stamps_every_event_with_who_and_the_flow_version():
    tx = DIRECT_SALE.start("W-1", merchant="Tea House", actor="shop-1", correlation_id="cart-9")
    events = tx.fire("fill_order", actor="customer:li", causation_id="cmd-1", **ORDER)
    assert len(events) >= 1
    for event in events:
        assert (event.actor, event.causation_id, event.correlation_id) == (
            "customer:li",
            "cmd-1",
            "cart-9",
        )
        assert event.flow_version == DIRECT_SALE.version == 1
    assert tx.events[0].actor == "shop-1"
    assert tx.correlation_id == "cart-9"


def test_defaults_direct_fire_leaves_causation_none_and_correlates_by_tx_id():
    tx = DIRECT_SALE.start("W-2", merchant="Tea House")
    events = tx.fire("fill_order", **ORDER)
    assert {(e.actor, e.causation_id, e.correlation_id) for e in tx.events} == {(None, None, "W-2")}
    assert events[0].correlation_id == "W-2"
    other = tx.fire("choose_payment", method="credit_card", correlation_id="refund-case-3")
    assert other[0].correlation_id == "refund-case-3"
    assert tx.correlation_id == "W-2"  # a fire's own correlation does not stick


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", ""),
        ("actor", "   "),
        ("actor", 42),
        ("actor", "li\x00"),
        ("actor", f"card {CARD}"),
        ("causation_id", ""),
        ("correlation_id", CARD),
        ("actor", "x" * 201),
    ],
)
def test_bad_who_is_refused_and_changes_nothing(field, value):
    tx = DIRECT_SALE.start("W-3", merchant="Tea House")
    before = _state(tx)
    with pytest.raises(InvalidPayload, match=field) as caught:
        tx.fire("fill_order", **{field: value}, **ORDER)
    assert CARD not in str(caught.value)
    assert _state(tx) == before
    with pytest.raises(InvalidPayload, match=field):
        DIRECT_SALE.start("W-4", merchant="Tea House", **{field: value})


def test_replay_ignores_who_and_json_keeps_it():
    tx = DIRECT_SALE.start("W-5", merchant="Tea House", actor="shop")
    tx.fire("fill_order", actor="li", causation_id="c-1", **ORDER)
    plain = DIRECT_SALE.start("W-5", merchant="Tea House", clock=tx.clock)
    plain.fire("fill_order", **ORDER)
    replayed = DIRECT_SALE.replay([Event.from_json(json.loads(e.dumps())) for e in tx.events])
    assert replayed == tx
    assert replayed.events[1].actor == "li"
    assert (replayed.state, replayed.context) == (plain.state, plain.context)


def test_requires_actor_refuses_a_fire_without_one_and_changes_nothing():
    definition = toy.definition()
    transitions = list(definition.transitions)
    finish = transitions[1]
    transitions[1] = attrs.evolve(finish, requires_actor=True)
    flow = toy.Flow(attrs.evolve(definition, transitions=transitions))
    tx = flow.start("T-1", owner="o")
    tx.fire("add", amount=1)
    before = _state(tx)
    with pytest.raises(GuardRejected) as caught:
        tx.fire("finish")
    assert caught.value.reasons[0][0] == "actor"
    assert "must be fired with an actor" in str(caught.value)
    assert _state(tx) == before
    (event,) = tx.fire("finish", actor="warehouse")
    assert event.actor == "warehouse"


def _b2b_at_standing_offer(tx_id="B-1"):
    tx = B2B.start(tx_id, buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Co-op")
    tx.fire("prepare", by="buyer", note="market research")
    tx.fire("offer", by="seller", **DEAL)
    tx.fire("arrive")
    return tx


def test_b2b_only_the_offeree_accepts():
    tx = _b2b_at_standing_offer()
    before = _state(tx)
    for wrong in ("seller", "Xinjiang Cotton Co-op", "a stranger"):
        with pytest.raises(GuardRejected) as caught:
            tx.fire("accept", by="buyer", actor=wrong, **DEAL)
        assert tuple(name for name, _ in caught.value.reasons) == ("actor",)
        assert re.search("only the offeree .buyer, Suzhou Textile Mill. accepts", str(caught.value))
        assert _state(tx) == before
    for right in ("buyer", "Suzhou Textile Mill"):
        attempt = _b2b_at_standing_offer(f"B-{right}")
        events = attempt.fire("accept", by="buyer", actor=right, **DEAL)
        assert {event.actor for event in events} == {right}
        assert attempt.state.startswith("contract")


def test_repository_causation_is_the_key_or_a_new_id_per_command(mem_repo):
    mem_repo.start("direct-sale", "R-1", merchant="Tea House", actor="shop")
    first = mem_repo.execute("R-1", "fill_order", actor="li", **ORDER)
    second = mem_repo.execute("R-1", "choose_payment", method="credit_card")
    third = mem_repo.execute("R-1", "decline_payment", reason="no", idempotency_key="gw-77")
    assert {e.causation_id for e in first} != {e.causation_id for e in second}
    for batch in (first, second):
        (cause,) = {e.causation_id for e in batch}
        assert re.fullmatch("[a-p]{32}", cause)  # no digits: never like a card
    assert {e.causation_id for e in third} == {"gw-77"}
    loaded = mem_repo.load("R-1")
    assert [e.actor for e in loaded.events if e.version == 1] == ["li"] * len(first)
    assert {e.correlation_id for e in loaded.events} == {"R-1"}
    assert mem_repo.store.load("R-1")[1] == list(loaded.events)


def test_repository_correlation_given_at_start_holds_for_later_commands(mem_repo):
    mem_repo.start("direct-sale", "R-2", merchant="Tea House", correlation_id="basket-5")
    events = mem_repo.execute("R-2", "fill_order", **ORDER)
    assert {e.correlation_id for e in events} == {"basket-5"}
    events = mem_repo.execute("R-2", "choose_payment", method="credit_card", causation_id="c9")
    assert {e.causation_id for e in events} == {"c9"}


def test_repository_refuses_bad_who_before_anything_is_written(mem_repo):
    mem_repo.start("direct-sale", "R-3", merchant="Tea House")
    with pytest.raises(InvalidPayload, match="actor"):
        mem_repo.execute("R-3", "fill_order", actor=f"clerk {CARD}", **ORDER)
    with pytest.raises(InvalidPayload, match="correlation_id"):
        mem_repo.execute("R-3", "fill_order", correlation_id="", **ORDER)
    assert mem_repo.store.version("R-3") == 0
    with pytest.raises(InvalidPayload, match="actor"):
        mem_repo.start("direct-sale", "R-4", merchant="Tea House", actor="")
    assert mem_repo.store.version("R-4") == -1


def test_find_by_actor(mem_repo):
    mem_repo.start("direct-sale", "F-1", merchant="Tea House")
    mem_repo.start("direct-sale", "F-2", merchant="Tea House")
    mem_repo.execute("F-2", "fill_order", actor="li", **ORDER)
    assert [row.tx_id for row in mem_repo.find(actor="li")] == ["F-2"]
    assert list(mem_repo.find(actor="wang")) == []


@pytest.mark.parametrize("name", ["actor", "causation_id", "correlation_id"])
def test_a_payload_field_named_like_who_did_what_is_an_invalid_definition(name):
    payload = attrs.make_class("Step", {name: attrs.field(default="x")}, frozen=True)
    definition = toy.definition()
    add = attrs.evolve(definition.transitions[0], payload=payload, guards=[], effect=None)
    with pytest.raises(InvalidDefinition, match=f"field named {name!r}"):
        attrs.evolve(definition, transitions=[add, *definition.transitions[1:]])
    start = attrs.evolve(definition.start, payload=payload)
    with pytest.raises(InvalidDefinition, match=f"field named {name!r}"):
        attrs.evolve(definition, start=start)
