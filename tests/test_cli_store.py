"""ecomflow simulate / events / replay against a real SQLite file."""

import io
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ecomflow import Event, StoreError, Stream, looks_like_card_number
from ecomflow.cli import main
from ecomflow.store import ENV_VAR, SQLiteStore, open_store

SRC = Path(__file__).resolve().parent.parent / "src"


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.mark.parametrize("flow", ["direct-sale", "operation", "intermediary", "b2b"])
def test_simulate_then_replay(tmp_path, flow):
    url = f"sqlite:///{tmp_path}/shop.db"
    code, out = run("simulate", flow, "--orders", "25", "--db", url, "--seed", "7")
    assert code == 0
    assert out.startswith(f"Simulated 25 {flow} transactions")
    reached = dict(re.findall(r"(\w+) (\d+)", out.split("States reached: ")[1].splitlines()[0]))
    assert sum(map(int, reached.values())) == 25
    assert "balanced" in out and "NOT" not in out
    code, out = run("replay", "--db", url)
    assert code == 0 and ", 0 failed" in out and "Ledger:" in out and "NOT" not in out
    rows = sqlite3.connect(f"{tmp_path}/shop.db").execute("SELECT data FROM events").fetchall()
    assert rows and not any(looks_like_card_number(data) for (data,) in rows)


def test_simulate_includes_declines_cancellations_and_retries(tmp_path):
    url = f"sqlite:///{tmp_path}/shop.db"
    run("simulate", "direct-sale", "--orders", "80", "--db", url, "--seed", "3")
    names = {
        name
        for (name,) in sqlite3.connect(f"{tmp_path}/shop.db").execute(
            "SELECT DISTINCT name FROM events"
        )
    }
    assert {"payment_declined", "order_cancelled", "cash_collected", "payment_settled"} <= names


def test_events_lists_a_transaction(tmp_path):
    url = f"sqlite:///{tmp_path}/shop.db"
    run("simulate", "operation", "--orders", "1", "--db", url, "--seed", "1")
    (tx_id,) = (
        sqlite3.connect(f"{tmp_path}/shop.db")
        .execute("SELECT DISTINCT tx_id FROM events")
        .fetchone()
    )
    code, out = run("events", tx_id, "--db", url)
    assert code == 0 and out.startswith(f"{tx_id} (operation)")
    assert "v0.0" in out and "[money] electronic_settlement_submitted" in out


def test_events_of_an_unknown_transaction(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/shop.db"
    run("simulate", "operation", "--orders", "1", "--db", url, "--seed", "1")
    code, _ = run("events", "nope", "--db", url)
    assert code == 2
    assert capsys.readouterr().err == "ecomflow: error: No transaction 'nope' in the store.\n"


def test_replay_reports_a_broken_store(tmp_path):
    url = f"sqlite:///{tmp_path}/shop.db"
    run("simulate", "direct-sale", "--orders", "3", "--db", url, "--seed", "1")
    db = sqlite3.connect(f"{tmp_path}/shop.db")
    db.execute(
        "DELETE FROM events WHERE version = 1 AND seq = 0 AND position = "
        "(SELECT MIN(position) FROM events WHERE version = 1)"
    )
    db.commit()
    code, out = run("replay", "--db", url)
    assert code == 1 and "1 failed" in out


def test_simulate_needs_a_positive_count(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "direct-sale", "--orders", "0"])
    assert info.value.code == 2
    assert "must be a positive whole number (got '0')" in capsys.readouterr().err


# -- a store that is not there ---------------------------------------------------------------


@pytest.mark.parametrize("argv", [["replay"], ["events", "A-1"]])
def test_read_only_commands_refuse_a_missing_database_and_create_nothing(tmp_path, argv, capsys):
    path = tmp_path / "missing.db"
    code, out = run(*argv, "--db", f"sqlite:///{path}")
    assert (code, out) == (2, "")
    assert capsys.readouterr().err == (
        f"ecomflow: error: No store at {str(path)!r}: the file does not exist.\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["replay"], ["events", "A-1"]])
def test_read_only_commands_refuse_a_missing_default_database(tmp_path, monkeypatch, argv, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    code, _ = run(*argv)
    assert code == 2
    assert "No store at 'ecomflow.db': the file does not exist." in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_read_the_store_named_by_the_environment(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/shop.db"
    run("simulate", "direct-sale", "--orders", "2", "--db", url, "--seed", "1")
    monkeypatch.setenv(ENV_VAR, url)
    code, out = run("replay")
    assert code == 0 and "of 2 transactions" in out


def test_open_store_without_create_opens_only_an_existing_store(tmp_path):
    path = tmp_path / "shop.db"
    with pytest.raises(StoreError, match=r"^No store at '.*shop\.db': the file does not exist\.$"):
        open_store(f"sqlite:///{path}", create=False)
    assert not path.exists()
    open_store(f"sqlite:///{path}").close()
    store = open_store(f"sqlite:///{path}", create=False)
    assert isinstance(store, SQLiteStore) and store.read() == []
    store.close()


def test_open_store_without_create_refuses_memory():
    with pytest.raises(StoreError, match="memory:// is empty until written"):
        open_store("memory://", create=False)


def test_open_store_without_create_on_postgresql(pg_dsn):
    import psycopg

    name = urlsplit(pg_dsn).path.lstrip("/")
    with pytest.raises(StoreError, match=f"No store in the PostgreSQL database '{name}'"):
        open_store(pg_dsn, create=False)
    with psycopg.connect(pg_dsn) as db:
        assert db.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)
    open_store(pg_dsn).close()
    with open_store(pg_dsn, create=False) as store:
        assert store.read() == []


# -- misuse gets one line, never a traceback -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--db", "redis://x"], "Cannot open store 'redis://x'"),
        (["replay", "--db", "sqlite:///"], "names no file"),
        (["replay", "--db", "sqlite:///{tmp}"], "Cannot open SQLite store"),
        (["simulate", "b2b", "--db", "sqlite:///{tmp}/no/such/dir/x.db"], "Cannot open SQLite"),
        (["replay", "--db", "postgresql://127.0.0.1:1/x"], "PostgreSQL"),
    ],
)
def test_misuse_is_one_line_on_stderr_and_exit_2(tmp_path, argv, message, capsys):
    argv = [part.replace("{tmp}", str(tmp_path)) for part in argv]
    code, out = run(*argv)
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert err.startswith("ecomflow: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "?." not in err


# -- a real pipe -----------------------------------------------------------------------------


def test_events_piped_into_a_reader_that_stops_after_one_line_ends_quietly(tmp_path):
    # More than a pipe holds, so ecomflow is still writing when the reader goes away.
    path = tmp_path / "shop.db"
    store = SQLiteStore(path)
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    note = "tea " * 250
    events = [
        Event("A-1", 0, seq, "start", Stream.INFORMATION, "noted", {"note": note}, when)
        for seq in range(300)
    ]
    store.append("direct-sale", events, -1)
    store.close()
    child = subprocess.Popen(
        [sys.executable, "-m", "ecomflow", "events", "A-1", "--db", f"sqlite:///{path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == b"A-1 (direct-sale), 300 events\n"
    child.stdout.close()
    with child.stderr:
        err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert err == ""
