"""ecomflow simulate / events / replay against a real SQLite file."""

import io
import re
import sqlite3

import pytest

from ecomflow import looks_like_card_number
from ecomflow.cli import main


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.mark.parametrize("flow", ["direct-sale", "operation", "intermediary", "b2b"])
def test_simulate_then_replay(tmp_path, flow):
    url = f"sqlite:///{tmp_path}/shop.db"
    code, out = run("simulate", flow, "--orders", "25", "--db", url, "--seed", "7")
    assert code == 0
    assert f"Simulated 25 {flow} transactions" in out
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
    code, _ = run("events", "nope", "--db", f"sqlite:///{tmp_path}/shop.db")
    assert code == 1
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
