import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecomflow import __version__
from ecomflow.cli import main
from ecomflow.flows.direct_sale import FLOW


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_list():
    code, out = run("list")
    assert code == 0
    assert out.splitlines() == [
        "b2b           The general B2B process / 电子商务的一般流程  『捌』",
        "direct-sale   Direct sale of goods online / 网络商品直销  『壹』『贰』",
        "intermediary  Trade through an online exchange / 网络商品中介交易  『壹』『贰』",
        "operation     The operation of e-commerce / 电子商务的运作流程  『叁』",
    ]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_demo_walks_every_step_and_touches_all_four_streams(lang):
    code, out = run("demo", "direct-sale", "--lang", lang)
    assert code == 0
    assert "-> settled" in out
    if lang == "zh":
        assert "16 个事件，涉及 4 个流：商流、信息流、物流、资金流。" in out
        assert "[资金流] 汇款额被认可 payment_authorized" in out and "送货上门" in out
    else:
        assert "16 events in 4 streams: commerce, information, logistics, money." in out
        assert "[money] payment_authorized" in out
    steps = [line for line in out.splitlines() if line[:1].isdigit()]
    assert len(steps) == 9  # the start and eight transitions, one decline among them


@pytest.mark.parametrize("name", ["direct-sale", "operation", "intermediary", "b2b"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_flow_has_a_demo_that_finishes(name, lang):
    code, out = run("demo", name, "--lang", lang)
    assert code == 0
    last = out.splitlines()[-1]
    ends = ("delivered", "settled", "closed")
    if lang == "zh":  # the summary in Chinese, with no English sentence in it
        assert "涉及 4 个流：商流、信息流、物流、资金流。" in last and "Finished" not in last
        assert any(f"({end})，共" in last for end in ends)
        return
    assert "in 4 streams: commerce, information, logistics, money." in last
    assert any(f"Finished in state '{end}'" in last for end in ends)


def test_the_intermediary_demo_starts_at_the_exchange():
    code, out = run("demo", "intermediary")
    assert code == 0
    assert "Before the transaction, on exchange:Hangzhou Grain Exchange:" in out
    assert "[information] market_data_published" in out
    assert "[money] seller_paid" in out


@pytest.mark.parametrize(("fmt", "first"), [("mermaid", "stateDiagram-v2"), ("dot", "digraph")])
def test_show(fmt, first):
    code, out = run("show", "direct-sale", "--format", fmt, "--lang", "zh")
    assert code == 0 and out.startswith(first)
    assert out.rstrip("\n") == FLOW.diagram(fmt, "zh")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["show", "nope"],
            "ecomflow: error: argument flow: unknown flow 'nope'; choose from: b2b, direct-sale, intermediary, operation",
        ),
        (["show", "direct-sale", "--format", "gif"], "invalid choice: 'gif'"),
        (["demo", "direct-sale", "--lang", "fr"], "invalid choice: 'fr'"),
        ([], "the following arguments are required: command"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_non_zero(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


SRC = Path(__file__).resolve().parent.parent / "src"


def command(*argv, **env):
    """Run ``python -m ecomflow`` on this checkout's sources in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "ecomflow", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
    )


def test_the_installed_command_runs():
    result = command("demo", "direct-sale")
    assert result.returncode == 0, result.stderr
    assert "Finished in state 'settled'" in result.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"ecomflow {__version__}\n"


COMMANDS = ["list", "show", "demo", "simulate", "events", "replay"]


def test_help_describes_every_command_in_one_line_and_names_the_environment_variable(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in COMMANDS:
        (at,) = [at for at, line in enumerate(lines) if line.split()[:1] == [name]]
        assert len(lines[at].split()) >= 3, f"{name} has no description: {lines[at]!r}"
        assert not lines[at + 1].startswith(" " * 6), f"{name}'s description wraps"
    assert "$ECOMFLOW_DB" in out
    assert "--version" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_starts_with_its_description(name, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    overview = capsys.readouterr().out
    (line,) = [line for line in overview.splitlines() if line.split()[:1] == [name]]
    description = line.split(None, 1)[1].strip()
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert description in " ".join(out.split())
    if name in ("simulate", "events", "replay"):
        assert "$ECOMFLOW_DB" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["list"], "direct-sale   Direct sale of goods online / ??????"),
        (["show", "direct-sale", "--lang", "zh"], "stateDiagram-v2"),
        (["demo", "direct-sale", "--lang", "zh"], "(settled)"),
        (["demo", "intermediary"], "Finished in state"),
    ],
)
def test_a_terminal_that_cannot_print_chinese_gets_replacements_not_a_crash(argv, expected):
    result = command(*argv, PYTHONIOENCODING="ascii")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert expected in result.stdout


def test_output_into_a_closed_pipe_ends_quietly():
    # The reader is gone before ecomflow writes: what `ecomflow list | head -0` meets.
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ecomflow", "list"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONPATH": str(SRC)},
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 141


@pytest.mark.parametrize("name", ["direct-sale", "operation", "intermediary", "b2b"])
def test_the_chinese_demo_names_every_event_in_chinese(name):
    """Each event line of ``demo --lang zh`` carries the event's Chinese label before its name."""
    from ecomflow.flows import EXCHANGE, FLOWS

    labels = {
        emit.name: emit.label
        for flow in (FLOWS[name], EXCHANGE)
        for transition in (flow.definition.start, *flow.definition.transitions)
        for emit in transition.emits
    }
    code, out = run("demo", name, "--lang", "zh")
    assert code == 0
    events = [line.split("] ", 1)[1] for line in out.splitlines() if line.startswith("    [")]
    assert events
    for line in events:
        zh, event_name = line.split(" ")[:2]
        assert labels[event_name] is not None and zh == labels[event_name].zh, line
