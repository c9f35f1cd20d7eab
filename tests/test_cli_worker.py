"""``ecomflow worker``: fires a store's due deadlines; ``--once``, or until SIGTERM."""

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from ecomflow import FLOWS, Money, utc_now
from ecomflow.cli.main import main
from ecomflow.store import Repository, SQLiteStore
from ecomflow.testing import ManualClock

ORDER = {
    "customer_name": "Li Lei",
    "address": "Beijing",
    "goods_name": "tea",
    "quantity": 1,
    "specification": "tin",
    "unit_price": Money("88.00", "CNY"),
}
SRC = str(Path(__file__).resolve().parents[1] / "src")


def unpaid(path, count, ago=timedelta(hours=1)):
    """Store ``count`` orders left unpaid since ``ago``."""
    clock = ManualClock(utc_now() - ago)
    with SQLiteStore(path) as store:
        repo = Repository(store, FLOWS, clock=clock)
        for n in range(count):
            repo.start("direct-sale", f"U-{n}", merchant="Tea House")
            repo.execute(f"U-{n}", "fill_order", **ORDER)


def states(path):
    with SQLiteStore(path) as store:
        repo = Repository(store, FLOWS)
        return sorted({repo.load(row.tx_id).state for row in repo.find()})


def test_worker_once_fires_what_is_due_and_says_so(tmp_path):
    path = tmp_path / "shop.db"
    unpaid(path, 3)
    out = io.StringIO()
    assert main(["worker", "--db", f"sqlite:///{path}", "--once"], out) == 0
    assert out.getvalue() == "fired 3 deadline(s), dropped 0 whose transaction had moved on\n"
    assert states(path) == ["expired"]
    out = io.StringIO()
    assert main(["worker", "--db", f"sqlite:///{path}", "--once", "--lang", "zh"], out) == 0
    assert out.getvalue() == "已触发 0 个期限，丢弃 0 个（其交易已离开该状态）\n"


def test_worker_rearm_arms_orders_stored_before_the_upgrade_then_fires_them(tmp_path):
    path = tmp_path / "shop.db"
    unpaid(path, 3)
    with sqlite3.connect(path) as db:  # as an ecomflow without deadlines left them: no rows
        db.execute("DELETE FROM deadlines")
    db.close()
    url = f"sqlite:///{path}"
    out = io.StringIO()
    assert main(["worker", "--db", url, "--once"], out) == 0
    assert out.getvalue().startswith("fired 0 deadline(s)")
    assert states(path) == ["order_filled"]
    out = io.StringIO()
    assert main(["worker", "--db", url, "--once", "--rearm", "--lang", "zh"], out) == 0
    assert out.getvalue() == (
        "已为已存储的交易补设 3 个缺失的期限\n已触发 3 个期限，丢弃 0 个（其交易已离开该状态）\n"
    )
    assert states(path) == ["expired"]
    out = io.StringIO()
    assert main(["worker", "--db", url, "--once", "--rearm"], out) == 0
    assert out.getvalue().startswith("armed 0 missing deadline(s) of stored transactions\n")


def test_worker_leaves_what_is_not_due(tmp_path):
    path = tmp_path / "shop.db"
    unpaid(path, 2, ago=timedelta(minutes=1))
    assert main(["worker", "--db", f"sqlite:///{path}", "--once"], io.StringIO()) == 0
    assert states(path) == ["order_filled"]


def test_worker_refuses_a_missing_store_and_a_bad_poll(tmp_path, capsys):
    assert main(["worker", "--db", f"sqlite:///{tmp_path}/none.db", "--once"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
    try:
        main(["worker", "--poll", "0"])
    except SystemExit as exit:
        assert exit.code == 2
    assert "must be more than 0" in capsys.readouterr().err


def test_worker_runs_until_sigterm_and_stops_gracefully(tmp_path):
    path = tmp_path / "shop.db"
    unpaid(path, 2)
    env = {**os.environ, "PYTHONPATH": SRC}
    worker = subprocess.Popen(
        [sys.executable, "-m", "ecomflow", "worker", "--db", f"sqlite:///{path}", "--poll", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        started = worker.stdout.readline()
        assert started.startswith("worker ") and "started on sqlite:///" in started
        deadline = time.monotonic() + 30
        while states(path) != ["expired"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert states(path) == ["expired"]
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert out.splitlines()[-2:] == [
        started.split()[0] + " " + started.split()[1] + " stopped",
        "fired 2 deadline(s), dropped 0 whose transaction had moved on",
    ]
