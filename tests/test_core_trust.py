"""Issue 10, the core's part: history nobody can rewrite, no card number stored, sane money,
only our own errors from start, fire and replay."""

import copy
import json
import pickle
import unicodedata
from datetime import datetime, timezone
from decimal import Decimal

import attrs
import pytest

from ecomflow import (
    CorruptHistory,
    EcomflowError,
    Emit,
    Event,
    EventBus,
    Flow,
    FlowDefinition,
    InvalidPayload,
    Label,
    Money,
    State,
    Stream,
    SubscriberError,
    Transition,
    looks_like_card_number,
)
from ecomflow import _sensitive as sensitive
from ecomflow._money import MAX_AMOUNT_DIGITS, MAX_QUANTITY
from ecomflow.fields import choice
from ecomflow.flows.direct_sale import FLOW as DIRECT_SALE
from ecomflow.flows.direct_sale import PaymentMethod
from ecomflow.store import MemoryStore, PostgresStore, SQLiteStore
from tests.toy import TOY

CARD = "4111111111111111"


def snapshot(tx):
    return (tx.state, tx.version, list(tx.events), tx.context)


def order(clock, tx_id="A-1", **changes):
    tx = DIRECT_SALE.start(tx_id, merchant="Shop", clock=clock)
    form = dict(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="tea",
        quantity=2,
        specification="tin",
        unit_price=Money("19.90", "CNY"),
    )
    form.update(changes)
    tx.fill_order(**form)
    return tx


# -- a small flow whose transitions record several events -------------------------------


@attrs.frozen
class Begin:
    owner: str


@attrs.frozen
class Put:
    amount: int
    colour: str = attrs.field(default="red", converter=lambda value: value.lower())


@attrs.frozen
class Box:
    owner: str
    total: int = 0
    tags: tuple[str, ...] = ()


def _put(box, put):
    if put.amount == 13:
        raise ValueError("thirteen is unlucky")  # only a forged history gets here
    return attrs.evolve(box, total=box.total + put.amount, tags=(*box.tags, put.colour))


BOX = Flow(
    FlowDefinition(
        name="box",
        title=Label("Box", "盒"),
        source="tests",
        context_type=Box,
        states=[State("open", Label("open", "开")), State("shut", Label("shut", "关"), True)],
        start=Transition(
            "begin",
            (),
            "open",
            Label("begin", "开始"),
            payload=Begin,
            effect=lambda _, p: Box(owner=p.owner),
            emits=[Emit(Stream.INFORMATION, "begun")],
        ),
        transitions=[
            Transition(
                "put",
                "open",
                "open",
                Label("put", "放"),
                payload=Put,
                effect=_put,
                emits=[
                    Emit(Stream.COMMERCE, "put", lambda c, p: {"tags": c.tags}),
                    Emit(Stream.MONEY, "counted", lambda c, p: {"total": c.total}),
                    Emit(Stream.LOGISTICS, "big", lambda c, p: {}, when=lambda c, p: p.amount > 5),
                    Emit(Stream.INFORMATION, "told", lambda c, p: {"to": [c.owner]}),
                ],
            ),
            Transition(
                "shut",
                "open",
                "shut",
                Label("shut", "关上"),
                emits=[Emit(Stream.COMMERCE, "shut")],
            ),
        ],
    )
)


def box(clock):
    tx = BOX.start("B-1", owner="ann", clock=clock)
    tx.fire("put", amount=7)  # put, counted, big, told
    tx.fire("put", amount=2)  # put, counted, told (big is optional)
    tx.fire("shut")
    return tx


# -- §3 history nobody can rewrite ---------------------------------------------------------


def test_event_data_is_deeply_read_only(clock):
    tx = box(clock)
    put, counted, big, told = tx.events[1:5]
    before = [e.dumps() for e in tx.events]
    attempts = [
        lambda: put.data.__setitem__("amount", 700),
        lambda: put.data.update(amount=700),
        lambda: put.data.pop("amount"),
        lambda: put.data.setdefault("x", 1),
        lambda: put.data.clear(),
        lambda: put.data.__delitem__("amount"),
        lambda: put.data["tags"].append("blue"),
        lambda: put.data["tags"].__setitem__(0, "blue"),
        lambda: put.data["tags"].extend(["blue"]),
        lambda: told.data["to"].insert(0, "mallory"),
        lambda: told.data["to"].sort(),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="read-only"):
            attempt()
    with pytest.raises(TypeError):
        put.data |= {"amount": 700}
    assert [e.dumps() for e in tx.events] == before
    assert BOX.replay(tx.events) == tx
    # Still plain JSON to everyone who reads it.
    assert isinstance(put.data, dict) and isinstance(put.data["tags"], list)
    assert put.data == {"amount": 7, "colour": "red", "tags": ["red"]}
    assert json.loads(json.dumps(put.data)) == put.data
    mutable = dict(put.data)
    mutable["amount"] = 1  # a copy is the caller's own
    assert put.data["amount"] == 7
    assert copy.deepcopy(put) == put and pickle.loads(pickle.dumps(put)) == put
    assert counted.data == {"total": 7} and big.data == {}


def test_a_subscriber_cannot_rewrite_a_recorded_customer_or_amount(clock):
    bus = EventBus()

    def tamper(event):
        if "customer_name" in event.data:
            event.data["customer_name"] = "Mallory"
        if "amount" in event.data:
            event.data["amount"]["amount"] = "0.01"

    bus.subscribe(tamper)
    tx = DIRECT_SALE.start("A-1", merchant="Shop", clock=clock, bus=bus)
    with pytest.raises(SubscriberError) as info:
        tx.fill_order(
            customer_name="Li Lei",
            address="Beijing",
            goods_name="tea",
            quantity=2,
            specification="tin",
            unit_price=Money("19.90", "CNY"),
        )
    assert isinstance(info.value.errors[0], TypeError)
    tx.choose_payment(method="credit_card", card_last4="1111")
    with pytest.raises(SubscriberError):
        tx.approve_payment(amount=Money("39.80", "CNY"), reference="AUTH")
    again = DIRECT_SALE.replay(tx.events)
    assert again.context.order.customer_name == "Li Lei"
    authorized = next(e for e in tx.events if e.name == "payment_authorized")
    assert authorized.data["amount"] == {"amount": "39.80", "currency": "CNY"}
    assert again == tx


def test_events_from_json_and_from_every_store_are_frozen_and_equal(clock, tmp_path):
    tx = box(clock)
    loaded = [Event.from_json(json.loads(e.dumps())) for e in tx.events]
    assert loaded == list(tx.events)
    with pytest.raises(TypeError):
        loaded[1].data["tags"].append("x")
    hand_made = Event("X", 0, 0, "t", Stream.MONEY, "n", {"a": [{"b": [1]}]}, clock())
    with pytest.raises(TypeError):
        hand_made.data["a"][0]["b"].append(2)
    for store in (MemoryStore(), SQLiteStore(tmp_path / "shop.db")):
        store.append("box", list(tx.events), -1)
        read = [recorded.event for recorded in store.read()]
        assert read == list(tx.events)
        with pytest.raises(TypeError):
            read[1].data["tags"].append("x")
        assert BOX.replay(read) == tx


def test_postgres_round_trips_frozen_data(clock, pg_dsn):
    tx = box(clock)
    with PostgresStore(pg_dsn) as store:
        store.append("box", list(tx.events), -1)
        read = [recorded.event for recorded in store.read()]
    assert read == list(tx.events)
    with pytest.raises(TypeError):
        read[1].data["tags"].append("x")
    assert BOX.replay(read) == tx


def _tampered(events, index, **changes):
    return [*events[:index], attrs.evolve(events[index], **changes), *events[index + 1 :]]


def _history_cases(events, other):
    """(name, tampered history, position of the first bad event, message)."""
    e = list(events)  # 0 begun; 1-4 put/counted/big/told (v1); 5-7 put/counted/told (v2); 8 shut
    return [
        ("missing event", [*e[:2], *e[3:]], "1:2", "comes where 1:1 should"),
        (
            "missing event, seqs renumbered",
            [*e[:2], attrs.evolve(e[3], seq=1), attrs.evolve(e[4], seq=2), *e[5:]],
            "1:1",
            "comes where put's 'counted' .money. should",
        ),
        ("missing last event", [*e[:4], *e[5:]], "1:3", "lacks its 'told' event .information."),
        ("last transition cut off", e[:-1], None, None),  # a shorter history is a valid one
        ("renamed", _tampered(e, 2, name="paid"), "1:1", "comes where put's 'counted'"),
        ("restreamed", _tampered(e, 2, stream=Stream.LOGISTICS), "1:1", "in stream logistics"),
        (
            "unknown event",
            [*e[:5], attrs.evolve(e[4], seq=4, name="refund"), *e[5:]],
            "1:4",
            "is not one put records",
        ),
        ("other transaction", _tampered(e, 3, tx_id="B-2"), "1:2", "belongs to transaction 'B-2'"),
        ("stranger appended", [*e, other.events[0]], "0:0", "belongs to transaction 'B-9'"),
        ("version gap", [*e[:5], *e[8:]], "3:0", "comes where 2:0 should"),
        ("seq out of order", [e[0], e[1], e[3], e[2], *e[4:]], "1:2", "comes where 1:1 should"),
        ("seq repeated", _tampered(e, 3, seq=1), "1:1", "comes where 1:2 should"),
        ("trigger mixed", _tampered(e, 3, trigger="shut"), "1:2", "records trigger 'shut'"),
        ("trigger swapped", _tampered(e, 8, trigger="put"), "3:0", "where put's 'put'"),
        ("start swapped", _tampered(e, 0, trigger="put"), "0:0", "begins with 'put'"),
        (
            "payload does not structure",
            _tampered(e, 1, data={"amount": "many", "colour": "red", "tags": []}),
            "1:0",
            "does not hold a valid Put",
        ),
        (
            "payload missing",
            _tampered(e, 1, data={"tags": []}),
            "1:0",
            "does not hold a valid Put",
        ),
        (
            "effect refuses a forged payload",
            _tampered(e, 1, data={"amount": 13, "colour": "red", "tags": []}),
            "1:0",
            "cannot be applied .thirteen is unlucky.",
        ),
    ]


@pytest.mark.parametrize("case", range(18))
def test_replay_refuses_each_kind_of_tampering(clock, case):
    tx = box(clock)
    other = BOX.start("B-9", owner="bob", clock=clock)
    name, history, position, message = _history_cases(tx.events, other)[case]
    if position is None:
        assert BOX.replay(history).version == tx.version - 1, name
        return
    with pytest.raises(CorruptHistory, match=message) as info:
        BOX.replay(history)
    error = info.value
    assert (error.tx_id, error.position) == ("B-1", position), name
    assert "box transaction 'B-1'" in str(error) and position in str(error)


def test_an_optional_event_may_be_absent_but_not_an_unconditional_one(clock):
    tx = box(clock)
    events = list(tx.events)
    without_big = [*events[:3], attrs.evolve(events[4], seq=2), *events[5:]]
    assert BOX.replay(without_big).version == 3  # "big" is optional
    without_told = [*events[:4], *events[5:]]
    with pytest.raises(CorruptHistory, match="lacks its 'told' event .information. at 1:3"):
        BOX.replay(without_told)
    last_missing = events[:7]  # version 2 lacks "told", its last event
    with pytest.raises(CorruptHistory, match="lacks its 'told' event .information. at 2:2"):
        BOX.replay(last_missing)


@pytest.mark.parametrize(
    "given", [None, "events", b"x", {"a": 1}, [1], [None], 5], ids=lambda value: repr(value)
)
def test_replay_of_something_else_than_events_is_invalid_payload(given, clock):
    with pytest.raises(InvalidPayload, match="Cannot replay"):
        BOX.replay(given)


class NaiveClock:
    def __call__(self):
        return datetime(2026, 11, 24, 8, 0)


@pytest.mark.parametrize(
    ("clock_fn", "problem"),
    [
        (NaiveClock(), "returned a naive datetime"),
        (lambda: "2026-11-24T08:00:00Z", "returned '2026-11-24T08:00:00Z'"),
        (lambda: None, "returned None"),
        (lambda: datetime(2026, 11, 24).date(), "returned datetime.date"),
    ],
)
def test_a_clock_must_return_aware_datetimes(clock_fn, problem):
    with pytest.raises(InvalidPayload, match=problem) as info:
        TOY.start("T-1", owner="ann", clock=clock_fn)
    assert str(info.value).startswith("Cannot start toy transaction 'T-1': the clock ")
    assert "aware datetime" in str(info.value)


def test_the_clock_is_named_and_a_clock_that_turns_naive_is_refused_at_fire(clock):
    with pytest.raises(InvalidPayload, match="the clock NaiveClock returned"):
        TOY.start("T-1", owner="ann", clock=NaiveClock())
    with pytest.raises(InvalidPayload, match="clock 'now' is not callable"):
        TOY.start("T-1", owner="ann", clock="now")
    times = iter([clock(), datetime(2026, 11, 24, 9, 0)])
    tx = TOY.start("T-1", owner="ann", clock=lambda: next(times))
    before = snapshot(tx)
    with pytest.raises(InvalidPayload, match="Cannot add transaction 'T-1' in state 'a'.*naive"):
        tx.fire("add", amount=1)
    assert snapshot(tx) == before


# -- §6 no full card number is ever stored ------------------------------------------------

ARABIC_INDIC = CARD.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
FULL_WIDTH = unicodedata.normalize("NFKC", CARD).translate(
    str.maketrans("0123456789", "０１２３４５６７８９")
)
DEVANAGARI = CARD.translate(str.maketrans("0123456789", "०१२३४५६७८९"))
SPELLINGS = {
    "plain": CARD,
    "spaces": "4111 1111 1111 1111",
    "dashes": "4111-1111-1111-1111",
    "dots": "4111.1111.1111.1111",
    "slashes": "4111/1111/1111/1111",
    "double spaces": "4111  1111  1111  1111",
    "tabs": "4111\t1111\t1111\t1111",
    "non-breaking spaces": "4111\u00a01111\u00a01111\u00a01111",
    "zero-width spaces": "4111\u200b1111\u200b1111\u200b1111",
    "ideographic spaces": "4111\u30001111\u30001111\u30001111",
    "Arabic-Indic digits": ARABIC_INDIC,
    "full-width digits": FULL_WIDTH,
    "Devanagari digits": DEVANAGARI,
    "mixed scripts": "４１１１ 1111 ١١١١ 1111",
    "followed by its CVV": "4111111111111111 123",
    "grouped, then the CVV": "4111 1111 1111 1111 123",
    "preceded by a short number": "12 4111111111111111",
    "inside a sentence": "order 12 qty 4111 1111 1111 1111 exp 12/27",
    "spaced dashes": "4111 - 1111 - 1111 - 1111",
    "Amex grouping": "3782 822463 10005",
    "after a label": "card:5500000000000004",
}


def _luhn_complete(body):
    """Return ``body`` with the check digit that makes it pass the Luhn check."""
    for last in "0123456789":
        if sensitive._luhn_ok(body + last):
            return body + last
    raise AssertionError(body)


EIGHTEEN = _luhn_complete("62123456789012345")
SPELLINGS["18 digits, short last group"] = " ".join(
    [EIGHTEEN[i : i + 4] for i in range(0, 18, 4)]  # 4-4-4-4-2, as UnionPay prints it
)

INNOCENT = [
    "tok_4111",
    "1111",
    "Beijing Chaoyang District Jianguo Road 88, Building 3, Room 1201",
    "北京市朝阳区建国路88号3号楼1201室",
    "deliver 2024-01-15 10:00-12:00",
    "2024-01-15 10:30:00",
    "15/01/2024 10:30",
    "+86 138 0013 8000",
    "138-0013-8000, 139-1234-5678",
    "call 138 0013 8000 or 139 1234 5678",
    "order 2024-0001 qty 3 of 12",
    "4111 1111 1111 1112",  # fails the Luhn check
    "41111111111111111111111",  # too long to be a card number
    "ISBN 978-7-111-11111-1",
    "电话：010-6512-3456；手机：138 0013 8000",
]


@pytest.mark.parametrize("spelling", list(SPELLINGS), ids=list(SPELLINGS))
def test_every_spelling_of_a_card_number_is_refused(clock, spelling):
    text = SPELLINGS[spelling]
    assert looks_like_card_number(text)
    tx = order(clock)
    before = snapshot(tx)
    with pytest.raises(InvalidPayload, match="looks like a full card number") as info:
        tx.choose_payment(method="credit_card", card_last4="1111", token=text)
    assert "token" in str(info.value) and text not in str(info.value)
    assert snapshot(tx) == before
    with pytest.raises(InvalidPayload, match="customer_name looks like a full card number"):
        order(clock, tx_id="A-2", customer_name=f"Li Lei {text}")


@pytest.mark.parametrize("text", INNOCENT)
def test_ordinary_text_is_not_a_card_number(clock, text):
    assert not looks_like_card_number(text)
    tx = order(clock, address=text)
    assert tx.context.order.address == text


def test_the_rule_is_about_groups(clock):
    # A window may end on a short group (a card's last digits) but not run through one.
    assert looks_like_card_number("4111 1111 1111 1111 12")
    assert not looks_like_card_number("41 11 11 11 11 11 11 11")  # documented limit
    assert not looks_like_card_number("4111\n1111\n1111\n1111")  # a line break ends a chain


def test_transaction_ids_are_checked(clock):
    for tx_id, problem in [
        (CARD, "looks like a full card number"),
        ("4111 1111 1111 1111", "looks like a full card number"),
        ("A-\x001", "holds a NUL byte"),
    ]:
        with pytest.raises(InvalidPayload, match=problem) as info:
            TOY.start(tx_id, owner="ann", clock=clock)
        assert tx_id not in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        {"customer_name": "Li\x00Lei"},
        {"address": "\x00"},
        {"specification": "tin\x00"},
    ],
)
def test_nul_bytes_in_a_payload_are_refused(clock, payload):
    with pytest.raises(InvalidPayload, match="holds a NUL byte"):
        order(clock, **payload)


def test_derived_data_and_keys_are_scanned_too(clock):
    tx = BOX.start("B-1", owner="ann", clock=clock)
    with pytest.raises(
        InvalidPayload, match=r"'B-1' in state 'open': tags\[0\] looks like a full card number"
    ):
        tx.fire("put", amount=1, colour=CARD)
    assert tx.version == 0
    with pytest.raises(InvalidPayload, match="NUL byte"):
        BOX.start("B-2", owner="a\x00b", clock=clock)
    # An owner that is fine alone, told to someone: the INFORMATION event carries it.
    tx = BOX.start("B-3", owner="ann 4111 1111", clock=clock)
    tx.fire("put", amount=1)
    assert sensitive.find_sensitive({f"k{CARD}": 1}) == ("<key>", sensitive.CARD_PROBLEM)
    assert sensitive.freeze_scanned({f"k {CARD}": 1}) is None
    assert sensitive.freeze_scanned({"a": {"b": ["x", "\x00"]}}) is None


def test_a_refused_payload_never_quotes_the_card_number(clock):
    @attrs.frozen
    class Pick:
        method: PaymentMethod = choice(PaymentMethod)

    flow = Flow(
        attrs.evolve(
            TOY.definition,
            transitions=[
                Transition(
                    "add",
                    "a",
                    "b",
                    Label("add", "加"),
                    payload=Pick,
                    emits=[Emit(Stream.MONEY, "x")],
                ),
                *TOY.definition.transitions[1:],
            ],
        )
    )
    tx = flow.start("T-1", owner="ann", clock=clock)
    with pytest.raises(InvalidPayload) as info:
        tx.fire("add", method=CARD)
    assert CARD not in str(info.value) and "looks like a full card number" in str(info.value)


def test_each_string_is_scanned_once_per_fire(clock, monkeypatch):
    scanned = []
    real = sensitive.looks_like_card_number

    def counting(text):
        scanned.append(text)
        return real(text)

    monkeypatch.setattr(sensitive, "looks_like_card_number", counting)
    store = MemoryStore()
    tx = DIRECT_SALE.start("A-1", merchant="Shop", clock=clock)
    store.append("direct_sale", list(tx.events), -1)
    events = tx.fill_order(
        customer_name="Li Lei of Beijing",
        address="Beijing Chaoyang District",
        goods_name="tea",
        quantity=2,
        specification="tin",
        unit_price=Money("19.90", "CNY"),
    )
    store.append("direct_sale", list(events), 0)
    assert scanned.count("Li Lei of Beijing") == 1
    assert scanned.count("Beijing Chaoyang District") == 1
    # A hand-made event is still scanned, and refused, by the store.
    forged = Event("A-9", 0, 0, "start", Stream.INFORMATION, "x", {"note": CARD}, clock())
    with pytest.raises(EcomflowError, match="'note' looks like a full card number"):
        store.append("direct_sale", [forged], -1)


# -- §2 money: ISO 4217 and sane bounds ------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "suggestion"),
    [("RMB", "CNY"), ("cny", "CNY"), ("CNX", "CNY"), ("USB", "USD"), ("EUO", "EUR")],
)
def test_a_currency_must_be_active_iso_4217_with_a_suggestion(currency, suggestion):
    with pytest.raises(InvalidPayload, match=f"did you mean '{suggestion}'") as info:
        Money("1", currency)
    assert f"currency {currency!r} is not an active ISO 4217 code" in str(info.value)


@pytest.mark.parametrize("currency", ["ABC", "XYZ", "ZZZ", "QQQ", "HRK", "DEM"])
def test_made_up_and_withdrawn_codes_are_refused(currency):
    with pytest.raises(InvalidPayload, match="is not an active ISO 4217 code"):
        Money("1", currency)


def test_real_codes_pass():
    for code in ["CNY", "USD", "EUR", "JPY", "HKD", "TWD", "KWD", "CLF", "XAU", "ZWG", "XCG"]:
        assert Money("1", code).currency == code


def test_amounts_beyond_18_integer_digits_are_refused():
    biggest = "9" * MAX_AMOUNT_DIGITS
    assert Money(biggest, "CNY").amount == Decimal(biggest)
    for amount in ["1" + "0" * MAX_AMOUNT_DIGITS, "1e30", "1E+999999", 10**4300]:
        with pytest.raises(InvalidPayload, match="more than 18 digits before the decimal point"):
            Money(amount, "CNY")
    with pytest.raises(InvalidPayload) as info:
        Money(10**4300, "CNY")
    assert len(str(info.value)) < 200  # described, not printed


def test_arithmetic_never_rounds_silently():
    big = Money("9" * MAX_AMOUNT_DIGITS, "CNY")
    with pytest.raises(InvalidPayload, match="add .* the result has more than 18 digits"):
        big + Money("1", "CNY")
    with pytest.raises(InvalidPayload, match="subtract"):
        -big - Money("1", "CNY")
    with pytest.raises(InvalidPayload, match="multiply"):
        Money("1000000000", "CNY") * MAX_QUANTITY
    with pytest.raises(InvalidPayload, match="at most 1,000,000,000"):
        Money("1", "CNY") * (MAX_QUANTITY + 1)
    with pytest.raises(InvalidPayload, match="a 4301-digit integer"):
        Money("1", "CNY") * 10**4300
    exact = Money("123456789.99", "CNY") * MAX_QUANTITY
    assert exact.amount == Decimal("123456789990000000.00")  # 18 digits, no rounding
    # 22 significant digits times 9: past 28 digits the old code rounded silently.
    precise = Money("99999999999999.9999", "CLF") * 9999
    assert precise.amount == Decimal("999899999999999999.0001")


def test_share_is_rounded_on_purpose_only():
    assert Money("10.00", "CNY").share(Decimal("0.006")) == Money("0.06", "CNY")
    assert Money("999999999999999999.99", "CNY").share(
        Decimal("0.1234567890123456789012345678901")
    ) == Money("123456789012345678.90", "CNY")
    with pytest.raises(InvalidPayload):
        Money("1", "CNY").share(Decimal("NaN"))


def test_a_huge_quantity_is_invalid_payload_and_changes_nothing(clock):
    tx = DIRECT_SALE.start("A-1", merchant="Shop", clock=clock)
    before = snapshot(tx)
    for quantity, message in [
        (10**4300, "quantity a 4301-digit integer is over the maximum, 1,000,000,000"),
        (MAX_QUANTITY + 1, "quantity 1000000001 is over the maximum"),
    ]:
        with pytest.raises(InvalidPayload, match=message):
            tx.fill_order(
                customer_name="Li",
                address="Beijing",
                goods_name="tea",
                quantity=quantity,
                specification="tin",
                unit_price=Money("19.90", "CNY"),
            )
        assert snapshot(tx) == before
    tx.fill_order(
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=MAX_QUANTITY,
        specification="tin",
        unit_price=Money("19.90", "CNY"),
    )
    assert tx.events[-1].dumps()  # the int prints


# -- §7 only our own errors from start, fire and replay ----------------------------------------


@pytest.mark.parametrize("trigger", [123, None, ["add"], b"add", ("add",)], ids=repr)
def test_a_trigger_that_is_not_a_string_is_invalid_payload(clock, trigger):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    before = snapshot(tx)
    with pytest.raises(InvalidPayload, match="a trigger is a string, one of add"):
        tx.fire(trigger)
    assert snapshot(tx) == before


def test_a_payload_converter_that_raises_anything_gives_invalid_payload(clock):
    tx = BOX.start("B-1", owner="ann", clock=clock)
    with pytest.raises(InvalidPayload, match="Cannot put transaction 'B-1' in state 'open'"):
        tx.fire("put", amount=1, colour=5)  # 5 has no .lower(): AttributeError inside
    assert tx.version == 0


def test_start_and_replay_refuse_a_bus_that_is_not_one(clock):
    with pytest.raises(InvalidPayload, match="bus 'x' is not an EventBus"):
        TOY.start("T-1", owner="ann", clock=clock, bus="x")
    tx = TOY.start("T-1", owner="ann", clock=clock)
    with pytest.raises(InvalidPayload, match="is not an EventBus"):
        TOY.replay(tx.events, bus=object())
    with pytest.raises(InvalidPayload, match="is not callable"):
        TOY.replay(tx.events, clock="now")


def test_all_our_errors_have_one_root(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    calls = [
        lambda: tx.fire({}),
        lambda: tx.fire("add", amount=[1]),
        lambda: TOY.start(5, owner="ann"),
        lambda: TOY.start("T-2", owner="ann", clock=lambda: 0),
        lambda: TOY.replay([object()]),
        lambda: TOY.replay([attrs.evolve(tx.events[0], data={})]),
        lambda: TOY.replay([attrs.evolve(tx.events[0], trigger=["begin"])]),
        lambda: TOY.replay([tx.events[0], attrs.evolve(tx.events[0], version=1, trigger={})]),
    ]
    for call in calls:
        with pytest.raises(EcomflowError):
            call()


def test_timezone_aware_clock_of_any_zone_is_fine():
    from datetime import timedelta

    tx = TOY.start("T-1", owner="ann", clock=lambda: datetime.now(timezone(timedelta(hours=8))))
    tx.fire("add", amount=1)
    assert tx.events[-1].occurred_at.utcoffset() == timedelta(hours=8)


def test_projections_keep_their_own_copies(clock):
    from ecomflow.projections import Inbox, Ledger, ShipmentTracker, fold

    tx = box(clock)
    tracker = fold(ShipmentTracker(), tx.events)
    _, name, data = tracker.history["B-1"][0]
    data["extra"] = 1  # the projection's copy is its own
    assert name == "big" and "extra" not in tx.events[3].data
    inbox = fold(Inbox(), tx.events)
    assert [n.name for n in inbox.notices["ann"]] == ["told", "told"]  # a frozen list of one
    ledger = fold(Ledger(), tx.events)
    assert ledger.postings == [] and len(ledger.memos) == 2
