"""Every InvalidPayload and StoreError a user meets has a Chinese message (issue 13).

Each flow's sample payloads are driven with one bad field at a time (a wrong type,
float money, an unknown field, a missing field, a card number); stores are opened with
bad URLs and written at a stale version. Every error met must carry ``.zh`` with
Chinese characters in it, and the values its English message quotes must appear in the
Chinese one too. The check itself is proved: an English-only error fails it.
"""

from __future__ import annotations

import pickle
import re
import sqlite3
from decimal import Decimal
from typing import Any

import pytest

from ecomflow import ConcurrencyConflict, EcomflowError, InvalidPayload, Money, StoreError
from ecomflow.cli import main
from ecomflow.flows import FLOWS
from ecomflow.store import MemoryStore, Repository, open_store

_HAN = re.compile(r"[\u4e00-\u9fff]")
_QUOTED = re.compile(r"'[^'\s]*'")
"""A value a message quotes (a repr of a short string): it must appear in both languages."""
CARD = "4111 1111 1111 1111"


def zh_problems(error: EcomflowError, *, ours: bool = True) -> list[str]:
    """Return what is wrong with ``error``'s Chinese message (nothing when it is fine).

    ``ours``: the whole message is ecomflow's own, so its English sentence may not be
    carried into the Chinese one (a store error may quote the database driver's text).
    """
    english = str(error)
    zh = error.zh
    if not isinstance(zh, str) or not zh.strip():
        return [f"{type(error).__name__} has no Chinese message: {english}"]
    problems = []
    if not _HAN.search(zh):
        problems.append(f"{zh!r} has no Chinese characters")
    if error.message_in("zh") != zh or error.message_in("en") != english:
        problems.append(f"message_in does not pick the languages of {english!r}")
    for value in _QUOTED.findall(english):
        if value not in zh:
            problems.append(f"{value} is in {english!r} but not in {zh!r}")
    sentence = english.split(": ", 1)[-1].rstrip(".")
    if ours and " " in sentence and sentence in zh:
        problems.append(f"{zh!r} carries the English {sentence!r}")
    if CARD in zh or CARD.replace(" ", "") in zh:
        problems.append(f"{zh!r} repeats the card number")
    return problems


def _bad_values(value: Any) -> list[Any]:
    """Return wrong values for a field whose good value is ``value``."""
    bad: list[Any] = [["a", "list"], CARD]
    if isinstance(value, Money):
        bad += [float(value.amount), value.amount]
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        bad += [1.5, 0, -(10**12), 10**30]
    elif isinstance(value, str):
        bad += ["", "x" * 5000]
    return bad


def _variants(kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """Return ``kwargs`` with one thing wrong at a time."""
    payload = {k: v for k, v in kwargs.items() if k != "actor"}
    who = {k: v for k, v in kwargs.items() if k == "actor"}
    variants = [{**kwargs, "no_such_field": 1}]
    for name, value in payload.items():
        variants.append({k: v for k, v in kwargs.items() if k != name})  # missing
        variants += [{**kwargs, name: bad} for bad in _bad_values(value)]
    variants.append({**payload, **who, "actor": ""})
    variants.append({**payload, "actor": CARD})
    return variants


def payload_errors() -> list[EcomflowError]:
    """Return every error met driving each flow's sample with one bad field at a time."""
    met: list[EcomflowError] = []
    for name in FLOWS:
        flow = FLOWS[name]
        sample = FLOWS.sample(name)
        if sample.begin is None:
            for bad in _variants(dict(sample.start)):
                try:
                    flow.start(f"{name}-bad-1", **bad)
                except EcomflowError as error:
                    met.append(error)
            for tx_id in ("", CARD, 12):
                with pytest.raises(EcomflowError) as info:
                    flow.start(tx_id, **sample.start)
                met.append(info.value)
        tx, _ = sample.start_demo(flow)
        for trigger, kwargs in sample.steps:
            for bad in _variants(dict(kwargs)):
                try:  # on a copy: a variant that is not wrong after all moves it
                    flow.replay(tx.events).fire(trigger, **bad)
                except (InvalidPayload, StoreError) as error:
                    met.append(error)
            with pytest.raises(InvalidPayload) as info:
                tx.fire(42)  # type: ignore[arg-type]
            met.append(info.value)
            tx.fire(trigger, **kwargs)
    return met


def money_errors() -> list[EcomflowError]:
    """Return the errors Money itself raises for bad amounts, currencies and arithmetic."""
    price = Money("19.90", "CNY")
    attempts = [
        lambda: Money(19.9, "CNY"),  # type: ignore[arg-type]
        lambda: Money("abc", "CNY"),
        lambda: Money("NaN", "CNY"),
        lambda: Money(Decimal("Infinity"), "CNY"),
        lambda: Money(None, "CNY"),  # type: ignore[arg-type]
        lambda: Money("1.234", "CNY"),
        lambda: Money("1", "RMB"),
        lambda: Money("1", "cny"),
        lambda: Money("1", 156),  # type: ignore[arg-type]
        lambda: Money(10**30, "CNY"),
        lambda: price + Money("1", "USD"),
        lambda: price - 3,  # type: ignore[operator]
        lambda: price * 1.5,  # type: ignore[operator]
        lambda: price * 10**12,
        lambda: price.share(0.1),  # type: ignore[arg-type]
        lambda: Money("999999999999999999", "CNY") + Money("999999999999999999", "CNY"),
    ]
    met = []
    for attempt in attempts:
        with pytest.raises(InvalidPayload) as info:
            attempt()
        met.append(info.value)
    return met


def store_errors(tmp_path, pg_url: str | None) -> list[EcomflowError]:
    """Return the store errors a user meets: bad URLs, a stale version, a corrupt row."""
    urls = [
        "nosuch://x",
        "sqlite:///",
        f"sqlite:///{tmp_path / 'shop.db'}?synchronous=SOMETIMES",
        f"sqlite:///{tmp_path}",
        f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}",
        "postgresql://127.0.0.1:1/nothing?schema=",
        "postgresql://127.0.0.1:1/nothing?pool_size=many",
    ]
    met = []
    for url in urls:
        with pytest.raises(StoreError) as info:
            open_store(url).close()
        met.append(info.value)
    (tmp_path / "notes.txt").write_text("not a database, " * 100)
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite:///{tmp_path / 'notes.txt'}").close()
    met.append(info.value)
    for url in ("memory://", f"sqlite:///{tmp_path / 'missing.db'}"):
        with pytest.raises(StoreError) as info:
            open_store(url, create=False)
        met.append(info.value)
    with pytest.raises(StoreError) as info:
        open_store("postgresql://127.0.0.1:1/nothing?connect_timeout=2", create=False)
    met.append(info.value)
    if pg_url is not None:
        with pytest.raises(StoreError) as info:
            open_store(pg_url, create=False)
        met.append(info.value)

    # A stale version, and a transaction of another flow, in memory and in SQLite.
    path = tmp_path / "shop.db"
    for store in (MemoryStore(), open_store(f"sqlite:///{path}")):
        repo = Repository(store, {"operation": FLOWS["operation"]})
        sample = FLOWS.sample("operation")
        tx = repo.start("operation", "op-1", **sample.start)
        with pytest.raises(StoreError) as info:
            store.append("operation", list(tx.events), -1)
        met.append(info.value)
        with pytest.raises(StoreError) as info:
            store.append("direct-sale", list(tx.events), 0)
        met.append(info.value)
        trigger, kwargs = sample.steps[0]
        tx.fire(trigger, **kwargs)  # not through the repository: the store is not told
        later = [event for event in tx.events if event.version == tx.version]
        store.append("operation", later, later[0].version - 1)
        with pytest.raises(ConcurrencyConflict) as conflict:  # a stale version
            store.append("operation", later, later[0].version - 1)
        met.append(conflict.value)
        store.close()

    # A flow the repository does not know, and a transaction of one.
    repo = Repository(MemoryStore(), {"operation": FLOWS["operation"]})
    with pytest.raises(StoreError) as info:
        repo.start("direct-sale", "o-1", merchant="Hangzhou Tea House")
    met.append(info.value)
    repo.start("operation", "op-9", **FLOWS.sample("operation").start)
    with pytest.raises(StoreError) as info:
        Repository(repo.store, {}).load("op-9")
    met.append(info.value)

    # Events that are not a history the flow could have written.
    demo, _ = FLOWS.sample("operation").demo(FLOWS["operation"])
    for events in (demo.events[1:], [*demo.events[:2], demo.events[1]]):
        with pytest.raises(StoreError) as info:
            FLOWS["operation"].replay(events)
        met.append(info.value)

    # A stored event that does not parse.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET data = 'not json'")
    with open_store(f"sqlite:///{path}") as store, pytest.raises(StoreError) as info:
        store.load("op-1")
    met.append(info.value)
    return met


@pytest.fixture
def pg_url(request):
    """A PostgreSQL URL of a fresh, empty schema, or None where there is no server."""
    try:
        return request.getfixturevalue("pg_dsn")
    except pytest.skip.Exception:
        return None


def test_every_bad_payload_is_refused_in_chinese_too():
    met = payload_errors()
    assert len(met) > 300  # every flow, every field, every kind of wrong
    kinds = {str(error).split(": ", 1)[-1].split(" ")[0] for error in met}
    assert len(kinds) > 10
    problems = [problem for error in met for problem in zh_problems(error)]
    assert problems == []


def test_every_money_error_is_in_chinese_too():
    met = money_errors()
    problems = [problem for error in met for problem in zh_problems(error)]
    assert problems == []


def test_every_store_error_a_user_meets_is_in_chinese_too(tmp_path, pg_url):
    met = store_errors(tmp_path, pg_url)
    assert all(isinstance(error, StoreError) for error in met)
    problems = [problem for error in met for problem in zh_problems(error, ours=False)]
    assert problems == []


def test_the_values_appear_in_both_languages():
    with pytest.raises(InvalidPayload) as info:
        FLOWS["direct-sale"].start("o-1", merchant="")
    error = info.value
    assert str(error) == (
        "Cannot start direct-sale transaction 'o-1': merchant must be a non-empty string (got '')."
    )
    assert error.zh == "无法开始 direct-sale 交易 'o-1'：merchant 必须是非空字符串（收到 ''）。"


def test_the_check_catches_an_english_only_message():
    english_only = InvalidPayload("Cannot pay transaction 'o-1': amount 1.5 is a float")
    assert zh_problems(english_only) != []
    no_han = InvalidPayload("quantity 'x' is bad", zh="quantity 'x' is bad")
    assert any("no Chinese" in problem for problem in zh_problems(no_han))
    lost_value = InvalidPayload("currency 'RMB' is unknown", zh="币种未知")
    assert any("'RMB'" in problem for problem in zh_problems(lost_value))
    wrapped = InvalidPayload(
        "Cannot offer transaction 'b': firm must be True or False (got 1).",
        zh="无法对交易 'b' 执行 offer：载荷无效（firm must be True or False (got 1)）。",
    )
    assert any("carries the English" in problem for problem in zh_problems(wrapped))
    with_card = InvalidPayload("card refused", zh=f"卡号 {CARD} 被拒绝")
    assert any("card number" in problem for problem in zh_problems(with_card))


def test_pickling_keeps_the_chinese_message():
    for error in [*money_errors(), *payload_errors()[:50]]:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (str(copy), copy.zh) == (str(error), error.zh)


def test_the_cli_prints_any_error_in_chinese(tmp_path, capsys):
    missing = tmp_path / "missing.db"
    code = main(["events", "o-1", "--db", f"sqlite:///{missing}", "--lang", "zh"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"ecomflow：错误：{str(missing)!r} 处没有存储：文件不存在。\n"
    code = main(["events", "o-1", "--db", "nosuch://x", "--lang", "zh"])
    assert code == 2
    assert capsys.readouterr().err == (
        "ecomflow：错误：无法打开存储 'nosuch://x'：请使用 memory://、sqlite:///文件 或 "
        "postgresql://…\n"
    )
    code = main(["events", "o-1", "--db", "nosuch://x"])
    assert capsys.readouterr().err == (
        "ecomflow: error: Cannot open store 'nosuch://x': use memory://, sqlite:///FILE or "
        "postgresql://…\n"
    )
