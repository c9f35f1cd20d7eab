"""Review of the command line: simulate reads no whole store, replay reads each event once."""

import gc
import importlib
import io
import sqlite3
import tracemalloc
from collections import Counter
from typing import ClassVar

import pytest

from ecomflow import FLOWS, EcomflowError, Money
from ecomflow.cli import main
from ecomflow.store import SQLiteStore

cli = importlib.import_module("ecomflow.cli.main")  # the module (ecomflow.cli.main is the function)


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


class Counting(SQLiteStore):
    """A SQLite store that counts what is read, and which transactions are loaded."""

    calls: ClassVar[Counter] = Counter()
    events_read = 0
    loaded: ClassVar[set] = set()

    def read(self, *args, **kwargs):
        records = super().read(*args, **kwargs)
        Counting.calls["read"] += 1
        Counting.events_read += len(records)
        return records

    def find(self, query):
        Counting.calls["find"] += 1
        return super().find(query)

    def projection_rows(self, *args, **kwargs):
        Counting.calls["projection_rows"] += 1
        return super().projection_rows(*args, **kwargs)

    def load(self, tx_id):
        Counting.loaded.add(tx_id)
        return super().load(tx_id)

    def load_latest(self, tx_id):
        Counting.loaded.add(tx_id)
        return super().load_latest(tx_id)


@pytest.fixture
def counting(monkeypatch, tmp_path):
    """``ecomflow`` opening a counting store at a SQLite path; the counters start at zero."""
    path = tmp_path / "shop.db"

    def open_counting(url, create=True):
        assert url == f"sqlite:///{path}"
        if not create and not path.exists():
            return cli.open_store(url, create=False)  # the real refusal
        return Counting(path)

    def reset():
        Counting.calls, Counting.events_read, Counting.loaded = Counter(), 0, set()

    monkeypatch.setattr(cli, "open_store", open_counting)
    reset()
    return f"sqlite:///{path}", reset


@pytest.mark.parametrize("flow", ["direct-sale", "intermediary", "b2b", "operation"])
def test_simulate_reads_nothing_of_the_store_but_its_own_transactions(counting, flow):
    url, reset = counting
    assert run("simulate", flow, "--orders", "30", "--db", url, "--seed", "5")[0] == 0
    with SQLiteStore(url.removeprefix("sqlite:///")) as store:
        before = {record.event.tx_id for record in store.read(limit=100_000)}
    reset()
    code, out = run("simulate", flow, "--orders", "4", "--db", url, "--seed", "6")
    assert code == 0 and f"Simulated 4 {flow} transactions" in out
    assert Counting.calls == Counter() and Counting.events_read == 0
    assert not Counting.loaded & before  # at most this run's own transactions
    assert "balanced" in out and "NOT" not in out


def test_replay_reads_each_event_once(counting):
    url, reset = counting
    assert run("simulate", "b2b", "--orders", "12", "--db", url, "--seed", "5")[0] == 0
    total = len(SQLiteStore(url.removeprefix("sqlite:///")).read(limit=100_000))
    reset()
    code, out = run("replay", "--db", url)
    assert code == 0 and f"Replayed {total} events of 12 transactions" in out
    assert Counting.events_read == total and Counting.loaded == set()


def long_negotiation(tx_id, rounds):
    """A b2b transaction haggled over for ``rounds`` counter-offers (built in memory)."""
    tx = FLOWS["b2b"].start(tx_id, buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Co-op")
    tx.fire("prepare", by="buyer", note="market research")
    price, by = Money(15000, "CNY"), "seller"
    tx.fire("offer", by=by, goods="cotton lint", quantity=200, price=price)
    tx.fire("arrive")
    for _ in range(rounds):
        by = "buyer" if by == "seller" else "seller"
        tx.fire("counter_offer", by=by, goods="cotton lint", quantity=200, price=price)
        tx.fire("arrive")
    return tx


def test_replay_holds_a_page_of_events_not_the_whole_history(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path}/shop.db"
    with SQLiteStore(tmp_path / "shop.db") as store:
        for number in range(2):
            store.append("b2b", long_negotiation(f"B-{number}", 2200).events, -1)
        total = len(store.read(limit=100_000))
        gc.collect()
        tracemalloc.start()
        try:
            events = store.read(limit=100_000)  # what holding every event costs
            held = tracemalloc.get_traced_memory()[0]
            del events
        finally:
            tracemalloc.stop()
    monkeypatch.setattr(cli, "_PAGE", 200)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        code, out = run("replay", "--db", url)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert code == 0 and f"Replayed {total} events of 2 transactions: 2 rebuilt" in out
    assert total > 12_000
    assert peak < held / 2, (peak, held)  # was 113% of it: every history kept to the end


@pytest.mark.parametrize("version", [0, 1, 9, 30])
def test_replay_folding_as_it_reads_reports_what_a_whole_replay_reports(tmp_path, version):
    path = tmp_path / "shop.db"
    with SQLiteStore(path) as store:
        store.append("b2b", long_negotiation("B-1", 20).events, -1)
        store.append("b2b", long_negotiation("B-2", 3).events, -1)
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM events WHERE tx_id = 'B-1' AND version = ?", (version,))
    db.close()
    with SQLiteStore(path) as store:
        _, events = store.load("B-1")
    with pytest.raises(EcomflowError) as whole:
        FLOWS["b2b"].replay(events)
    code, out = run("replay", "--db", f"sqlite:///{path}")
    assert code == 1
    assert "of 2 transactions: 1 rebuilt, 1 failed." in out
    assert f"  B-1: {whole.value}\n" in out
