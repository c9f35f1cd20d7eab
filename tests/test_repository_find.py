"""Repository.find, Page and reindex over the current-state table (issue 11).

Memory store only (``mem_store``): the SQLite and PostgreSQL stores are being rewritten
for schema version 3 elsewhere; the same tests should run on them once merged.
"""

from datetime import datetime, timedelta, timezone

import pytest

from ecomflow import FLOWS, InvalidPayload, Money
from ecomflow.store import MemoryStore, Repository
from ecomflow.store._repository import Page

ORDER = dict(
    customer_name="Li",
    address="Beijing",
    goods_name="tea",
    quantity=2,
    specification="tin",
    unit_price=Money("30", "CNY"),
)
DEAL = dict(goods="cotton lint", quantity=200, price=Money("15500", "CNY"))


class Clock:
    """A clock that moves one minute per reading."""

    def __init__(self):
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self):
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def mem_store():
    return MemoryStore()


@pytest.fixture
def shop(mem_store):
    clock = Clock()
    repo = Repository(mem_store, FLOWS, clock=clock)
    for number in range(1, 6):
        repo.start("direct-sale", f"D-{number}", merchant="Tea House")
    for number in (2, 3, 4):
        repo.execute(f"D-{number}", "fill_order", actor="li", **ORDER)
    repo.execute("D-4", "cancel", reason="changed my mind")
    repo.start("b2b", "B-1", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Co-op")
    repo.execute("B-1", "prepare", by="buyer", note="market research")
    repo.execute("B-1", "offer", by="seller", **DEAL)
    return repo, clock


def ids(page):
    return [row.tx_id for row in page]


def test_find_by_flow_and_state(shop):
    repo, _ = shop
    assert ids(repo.find(flow="direct-sale", state="browsing")) == ["D-1", "D-5"]
    assert ids(repo.find(state="order_filled")) == ["D-2", "D-3"]
    assert ids(repo.find(state="cancelled")) == ["D-4"]
    assert ids(repo.find(flow="b2b")) == ["B-1"]
    assert ids(repo.find(state="negotiation")) == ["B-1"]  # a state and those inside it
    assert ids(repo.find(state="negotiation.offer_sent")) == ["B-1"]
    assert ids(repo.find(state="negotiat")) == []  # a prefix of a name is not a state
    assert ids(repo.find(state="")) == []  # every row has its state
    assert len(repo.find()) == 6


def test_summaries_carry_the_flows_fields(shop):
    repo, _ = shop
    (row,) = repo.find(state="cancelled")
    assert row.summary == {
        "merchant": "Tea House",
        "customer": "Li",
        "total": "60.00",
        "currency": "CNY",
        "payment_method": None,
    }
    assert (row.flow, row.flow_version, row.version) == ("direct-sale", 1, 2)
    assert row.created_at < row.updated_at
    (trade,) = repo.find(flow="b2b")
    assert trade.summary["buyer"] == "Suzhou Textile Mill"
    assert trade.summary["amount"] == "3100000.00"  # 200 x 15,500.00
    assert trade.state == "negotiation.offer_sent"


def test_every_builtin_flow_has_a_json_summary():
    for name, flow in FLOWS.items():
        assert flow.definition.summary is not None, name


def test_find_by_update_time_and_actor(shop):
    repo, _ = shop
    rows = list(repo.find())
    middle = rows[2].updated_at
    assert ids(repo.find(updated_before=middle)) == ids(rows[:2])
    assert ids(repo.find(updated_after=middle)) == ids(rows[3:])
    assert ids(repo.find(actor="li")) == ["D-2", "D-3", "D-4"]
    assert ids(repo.find(actor="li", state="order_filled")) == ["D-2", "D-3"]


def test_pages_follow_one_another_without_gaps_or_repeats(shop):
    repo, _ = shop
    seen, after, pages = [], None, 0
    while True:
        page = repo.find(limit=4, after=after)
        assert isinstance(page, Page) and len(page) <= 4
        seen += ids(page)
        pages += 1
        if page.next is None:
            break
        after = page.next
    assert pages == 2 and sorted(seen) == sorted(ids(repo.find())) and len(set(seen)) == 6
    assert [row.updated_at for row in repo.find()] == sorted(r.updated_at for r in repo.find())
    # A transaction updated meanwhile moves to the end: the next pages still find it.
    first = repo.find(limit=3)
    repo.execute(first.items[0].tx_id, "fill_order", **ORDER)
    rest = repo.find(after=first.next)
    assert first.items[0].tx_id in ids(rest)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"after": "not a cursor"}, "not a cursor"),
        ({"updated_after": datetime(2026, 1, 1)}, "aware"),
        ({"state": 3}, "state must be a string"),
    ],
)
def test_bad_queries_are_refused(shop, kwargs, problem):
    repo, _ = shop
    with pytest.raises(InvalidPayload, match=problem):
        repo.find(**kwargs)


def test_reindex_fills_the_states_a_migration_left_unknown(mem_store):
    repo = Repository(mem_store, FLOWS)
    tx = FLOWS["direct-sale"].start("M-1", merchant="Tea House")
    tx.fire("fill_order", **ORDER)
    mem_store.append("direct-sale", list(tx.events), -1)  # no head: as after a 2 -> 3 migration
    other = FLOWS["direct-sale"].start("M-2", merchant="Tea House")
    mem_store.append("direct-sale", list(other.events), -1)
    mem_store.append("mystery", list(FLOWS["direct-sale"].start("M-3", merchant="x").events), -1)
    assert ids(repo.find(state="")) == ["M-1", "M-2", "M-3"]
    assert repo.reindex() == 2
    assert ids(repo.find(state="order_filled")) == ["M-1"]
    assert ids(repo.find(state="browsing")) == ["M-2"]
    assert ids(repo.find(state="")) == ["M-3"]  # a flow not known here is left alone
    (row,) = repo.find(state="order_filled")
    assert row.summary["total"] == "60.00" and row.version == 1
    assert repo.reindex() == 0  # safe to run again


def test_put_head_writes_only_at_the_version_given(mem_store):
    from ecomflow.store._base import Head

    repo = Repository(mem_store, FLOWS)
    repo.start("direct-sale", "H-1", merchant="Tea House")
    assert mem_store.put_head("H-1", 5, Head("elsewhere")) is False
    assert mem_store.put_head("nobody", 0, Head("elsewhere")) is False
    assert ids(repo.find(state="browsing")) == ["H-1"]
    assert mem_store.put_head("H-1", 0, Head("browsing", summary={"note": "x"})) is True
    assert repo.find(state="browsing").items[0].summary == {"note": "x"}
