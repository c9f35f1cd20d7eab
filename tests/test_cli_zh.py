"""``--lang zh`` on every command that prints sentences to a person (issue 13).

With ``--lang zh`` a command prints no English sentence: what is left in Latin letters are
identifiers (transaction ids, flow, trigger, state and event names, currency codes) and
the data the transactions hold (names of parties and goods), which these tests remove
before looking for English.
"""

from __future__ import annotations

import io
import re

import pytest

from ecomflow.cli import main
from ecomflow.flows import FLOWS, Sample

_DATA = re.compile(r"\{.*\}|\b\w+=[^,]*|'[^']*'|\"[^\"]*\"")
_ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){2,}\b")
"""Three English words in a row: a sentence, or a piece of one."""


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def english_in(text: str, *names: str) -> list[str]:
    """Return the pieces of English sentences in ``text`` (data and ``names`` removed)."""
    found = []
    for line in text.splitlines():
        line = _DATA.sub(" ", line)
        for name in names:
            line = line.replace(name, " ")
        found += _ENGLISH.findall(line)
    return found


@pytest.fixture
def shop(tmp_path):
    db = f"sqlite:///{tmp_path / 'shop.db'}"
    code, _ = run("simulate", "direct-sale", "--orders", "6", "--seed", "3", "--db", db)
    assert code == 0
    return db


def test_list_in_chinese_gives_the_chinese_titles_only():
    code, out = run("list", "--lang", "zh")
    assert code == 0
    assert "b2b           电子商务的一般流程  『捌』" in out.splitlines()
    assert english_in(out) == []


def test_simulate_in_chinese(tmp_path):
    db = f"sqlite:///{tmp_path / 'sim.db'}"
    code, out = run(
        "simulate", "operation", "--orders", "5", "--seed", "1", "--db", db, "--lang", "zh"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("模拟了 5 笔 operation 交易，用时 ")
    assert lines[1].startswith("到达的状态：") and "笔" in lines[1]
    assert lines[2].startswith("各流的事件：") and "资金流" in lines[2]
    assert lines[3].startswith("账本：本次运行 ") and lines[3].endswith("（平衡）。")
    assert english_in(out) == []
    code, out = run("simulate", "operation", "--orders", "5", "--seed", "1", "--db", db)
    assert out.startswith("Simulated 5 operation transactions in ")  # English unchanged


def test_replay_in_chinese(shop):
    code, out = run("replay", "--db", shop, "--lang", "zh")
    assert code == 0
    first, second = out.splitlines()
    assert re.fullmatch(r"重放了 \d+ 个事件，涉及 6 笔交易：6 笔重建成功，0 笔失败。", first)
    assert re.fullmatch(r"账本：\d+ 笔过账，平衡。", second)
    assert english_in(out) == []
    assert run("replay", "--db", shop)[1].startswith("Replayed ")


def test_events_in_chinese_name_each_event_by_its_label(shop):
    code, out = run("ls", "--db", shop, "--limit", "1")
    tx_id = out.splitlines()[2].split()[0]
    code, out = run("events", tx_id, "--db", shop, "--lang", "zh", "-v")
    assert code == 0
    assert out.splitlines()[0].startswith(f"{tx_id}（direct-sale），")
    assert "[信息流] 订单已提交 order_form_submitted" in out
    assert "，触发器 fill_order，流程版本 1" in out
    assert english_in(out) == []


def test_ls_in_chinese(shop):
    code, out = run("ls", "--db", shop, "--lang", "zh")
    assert code == 0 and "编号" in out
    assert english_in(out) == []


def test_an_error_is_said_in_chinese(shop):
    code, out = run("events", "no-such-tx", "--db", shop, "--lang", "zh")
    assert (code, out) == (2, "")


def test_an_error_line_in_chinese(shop, capsys):
    run("events", "no-such-tx", "--db", shop, "--lang", "zh")
    assert capsys.readouterr().err == "ecomflow：错误：存储中没有交易 'no-such-tx'。\n"
    run("show", "b2b", "--db", shop, "--lang", "zh")
    assert (
        capsys.readouterr().err
        == "ecomflow：错误：无法从存储中显示流程：--db 需要同时给出 --tx TX_ID。\n"
    )


def test_a_demo_step_the_flow_refuses_is_said_in_chinese(monkeypatch, capsys):
    sample = FLOWS.sample("direct-sale")
    steps = list(sample.steps)
    trigger, payload = steps[4]
    assert trigger == "approve_payment"
    steps[4] = (trigger, {**payload, "amount": payload["amount"] * 2})
    bad = Sample(start=sample.start, steps=steps)
    monkeypatch.setattr(type(FLOWS), "sample", lambda self, name: bad)
    code, _ = run("demo", "direct-sale", "--lang", "zh")
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ecomflow：错误：无法对状态为 'payment_method_chosen' 的交易 ")
    assert "批准金额 CNY 352.00 与订单总额 CNY 176.00 不符（amount_matches_total）。" in err
    assert english_in(err, "approve_payment", "amount_matches_total") == []
    code, _ = run("demo", "direct-sale")
    assert "the approved amount CNY 352.00 differs from the order total" in capsys.readouterr().err


def test_a_flow_without_a_sample_is_said_in_chinese(monkeypatch, capsys):
    from ecomflow import NoSample

    def no_sample(self, name):
        raise NoSample(f"The {name} flow has no sample.", flow=name)

    monkeypatch.setattr(type(FLOWS), "sample", no_sample)
    assert run("demo", "operation", "--lang", "zh")[0] == 2
    assert (
        capsys.readouterr().err
        == "ecomflow：错误：流程 operation 没有示例（sample），无法演示或模拟。\n"
    )


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_demo_in_chinese_has_no_english_sentence(name):
    code, out = run("demo", name, "--lang", "zh")
    assert code == 0
    # The exchange's transaction id, exchange:<its name>, is an identifier.
    assert english_in(out, "exchange:Hangzhou Grain Exchange") == []


def test_the_check_finds_an_english_sentence():
    assert english_in("账本：平衡。 Ledger: 9 postings in this run") == ["postings in this run"]
    assert english_in('[信息流] 订单 {"merchant": "Hangzhou Tea House"}') == []


def test_without_graphviz_the_error_is_said_in_chinese(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert run("show", "b2b", "--format", "svg", "--lang", "zh")[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("ecomflow：错误：无法画图：没有安装 Graphviz 的 dot 程序；")
    assert "apt-get install graphviz" in err
    assert english_in(err, "apt-get install graphviz", "brew install graphviz") == []
