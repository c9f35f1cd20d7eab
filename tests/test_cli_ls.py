"""ecomflow ls (the current-state table, page by page) and ecomflow events (who did what)."""

import importlib
import io
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from ecomflow import Event, Stream
from ecomflow.cli import main
from ecomflow.store import MemoryStore, open_store
from ecomflow.store._base import Head

cli = importlib.import_module("ecomflow.cli.main")  # the module (ecomflow.cli.main is the function)

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def put(store, flow, tx_id, state, minute, *, actor=None, summary=None, versions=1):
    """Append ``versions`` versions of ``tx_id`` with a head, as the repository does."""
    events = [
        Event(
            tx_id,
            version,
            0,
            "start" if version == 0 else "step",
            Stream.COMMERCE,
            "happened",
            {"n": version},
            T0 + timedelta(minutes=minute, seconds=version),
            actor=actor,
            causation_id=f"cmd-{tx_id}-{version}",
            correlation_id=f"order-{tx_id}",
        )
        for version in range(versions)
    ]
    store.append(flow, events, -1, head=Head(state, summary=summary or {}))


@pytest.fixture
def shop(location):
    """A SQLite file or a PostgreSQL schema holding five transactions."""
    url = location
    store = open_store(url)
    put(
        store,
        "direct-sale",
        "A-1",
        "shipping",
        1,
        actor="Li Lei",
        versions=4,
        summary={
            "total": {"amount": "176.00", "currency": "CNY"},
            "customer": "Li Lei",
            "paid": None,
        },
    )
    put(store, "direct-sale", "A-2", "payment_authorized", 2, actor="Wang Fang")
    put(store, "direct-sale", "A-3", "shipping", 3)
    put(store, "b2b", "B-1", "performance.logistics.stocking|performance.payment.awaiting", 4)
    put(store, "b2b", "B-2", "negotiation.open", 5, actor="Li Lei")
    store.close()
    return url


def ids(out):
    return re.findall(r"^\s*([AB]-\d)\s", out, flags=re.MULTILINE)


def test_ls_lists_every_transaction_oldest_update_first(shop):
    code, out = run("ls", "--db", shop)
    assert code == 0
    assert ids(out) == ["A-1", "A-2", "A-3", "B-1", "B-2"]
    heading = out.splitlines()[0]
    for word in ("id", "flow", "state", "version", "updated (UTC)", "summary"):
        assert word in heading
    assert "Next page" not in out
    line = next(line for line in out.splitlines() if "A-1" in line)
    assert "shipping (shipping to the door)" in line
    assert " 3 " in line and "2026-11-24 08:01:03" in line
    assert "customer=Li Lei, paid=-, total=CNY 176.00" in line


def test_ls_filters_by_flow_state_and_actor(shop):
    assert ids(run("ls", "--db", shop, "--state", "shipping")[1]) == ["A-1", "A-3"]
    assert ids(run("ls", "--db", shop, "--flow", "b2b")[1]) == ["B-1", "B-2"]
    assert ids(run("ls", "--db", shop, "--state", "performance")[1]) == ["B-1"]
    assert ids(run("ls", "--db", shop, "--actor", "Li Lei")[1]) == ["A-1", "B-2"]
    assert ids(run("ls", "--db", shop, "--flow", "b2b", "--actor", "Wang Fang")[1]) == []


def test_ls_pages_with_the_cursor_it_prints(shop):
    seen = []
    argv = ["ls", "--db", shop, "--limit", "2"]
    for _ in range(5):
        code, out = run(*argv)
        assert code == 0
        seen += ids(out)
        found = re.search(r"^Next page: --after (.+)$", out, flags=re.MULTILINE)
        if not found:
            break
        argv = ["ls", "--db", shop, "--limit", "2", "--after", found.group(1)]
    assert seen == ["A-1", "A-2", "A-3", "B-1", "B-2"]


def test_ls_in_chinese_labels_the_headings_and_the_states(shop):
    code, out = run("ls", "--db", shop, "--lang", "zh", "--flow", "b2b")
    assert code == 0
    for word in ("编号", "流程", "状态", "版本", "更新时间", "摘要"):
        assert word in out
    line = next(line for line in out.splitlines() if "B-1" in line)
    assert "performance.logistics.stocking|performance.payment.awaiting (备货 + 待付款)" in line
    line = next(line for line in out.splitlines() if "B-2" in line)
    assert "negotiation.open (" in line and re.search(r"[\u4e00-\u9fff]", line)


def test_ls_says_when_nothing_matches(shop):
    assert run("ls", "--db", shop, "--state", "settled")[1] == "No transactions found.\n"
    assert run("ls", "--db", shop, "--state", "settled", "--lang", "zh")[1] == "没有找到交易。\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--after", "not-a-cursor"], "it is not a cursor"),
        (["--limit", "0"], "must be a positive whole number"),
        (["--limit", "10001"], "must be at most 10000"),
    ],
)
def test_ls_refuses_bad_arguments_in_one_line(shop, argv, message, capsys):
    try:
        code, _ = run("ls", "--db", shop, *argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_ls_never_creates_a_store(tmp_path, capsys):
    code, _ = run("ls", "--db", f"sqlite:///{tmp_path}/none.db")
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_events_show_who_did_what(shop):
    code, out = run("events", "A-1", "--db", shop)
    assert code == 0
    assert "[commerce] happened by Li Lei {" in out
    assert "causation" not in out
    code, out = run("events", "A-1", "--db", shop, "--verbose")
    assert code == 0
    assert "actor Li Lei, causation cmd-A-1-2, correlation order-A-1, trigger step" in out
    code, out = run("events", "A-3", "--db", shop, "-v")
    assert " by " not in out and "actor -, causation cmd-A-3-0" in out


def test_ls_prints_stored_text_as_it_is_never_as_markup(location):
    store = open_store(location)
    put(store, "direct-sale", "A-[/]", "shipping", 1, summary={"customer": "[bold]Li[/bold] [Lei]"})
    store.close()
    code, out = run("ls", "--db", location)
    assert code == 0
    line = next(line for line in out.splitlines() if "A-[/]" in line)
    assert "customer=[bold]Li[/bold] [Lei]" in line


@pytest.mark.parametrize(("stored", "more"), [(10_000, False), (10_001, True)])
def test_ls_at_the_largest_page_offers_a_next_page_only_when_there_is_one(
    monkeypatch, stored, more
):
    store = MemoryStore()
    for number in range(stored):
        put(store, "direct-sale", f"A-{number:05}", "shipping", 1)
    monkeypatch.setattr(store, "close", lambda: None)
    monkeypatch.setattr(cli, "open_store", lambda url, create=True: store)
    code, out = run("ls", "--db", "memory://", "--limit", "10000")
    assert code == 0 and len(ids_of(out)) == 10_000
    assert ("Next page: --after" in out) is more


def ids_of(out):
    return re.findall(r"^\s*(A-\d+)\s", out, flags=re.MULTILINE)


def test_ls_never_creates_a_store_in_postgresql(pg_dsn, capsys):
    import psycopg

    code, out = run("ls", "--db", pg_dsn, "--state", "shipping")
    assert (code, out) == (2, "")
    name = urlsplit(pg_dsn).path.lstrip("/")
    assert f"No store in the PostgreSQL database '{name}'" in capsys.readouterr().err
    with psycopg.connect(pg_dsn) as db:
        assert db.execute("SELECT to_regclass('transactions')").fetchone() == (None,)
        assert db.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)
