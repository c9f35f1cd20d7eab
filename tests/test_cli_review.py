"""Review of the command line: simulate reads no whole store, replay reads each event once."""

import io
from collections import Counter
from typing import ClassVar

import pytest

from ecomflow import cli
from ecomflow.cli import main
from ecomflow.store import SQLiteStore


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
