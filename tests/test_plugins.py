"""Flows as plug-ins: an installed package's flow gets the CLI and the testing kit for free.

The example package examples/returns (a returns flow, 退货) is installed into a temporary
folder, as ``pip install --target`` does, and found there through the ``ecomflow.flows``
entry point its pyproject.toml declares; ``python -m ecomflow`` and ``ecomflow.testing``
then run on it in child processes with that folder on PYTHONPATH.
"""

import base64
import csv
import hashlib
import importlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import types
import zipfile
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from ecomflow import (
    Emit,
    Flow,
    FlowDefinition,
    Label,
    NoSample,
    State,
    Stream,
    Transition,
)
from ecomflow.cli import main
from ecomflow.flows import FLOWS, Registry, Sample
from ecomflow.flows import _registry as registry
from ecomflow.flows._registry import PluginWarning

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "returns"
SRC = ROOT / "src"
BUILTIN = ["b2b", "direct-sale", "intermediary", "operation"]

cli = importlib.import_module("ecomflow.cli.main")  # the module (ecomflow.cli.main is the function)


def _wheel_by_hand(project: Path, folder: Path) -> Path:
    """Build the example's wheel without a build backend: its package and entry points."""
    import tomllib  # only here: Python 3.11+, where a fresh venv brings no backend

    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = meta["name"].replace("-", "_"), meta["version"]
    info = f"{name}-{version}.dist-info"
    files = {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted((project / name).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    points = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in table.items()) + "\n"
        for group, table in meta["entry-points"].items()
    )
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = points.encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([path, f"sha256={digest}", len(data)])
    writer.writerow([f"{info}/RECORD", "", ""])
    files[f"{info}/RECORD"] = record.getvalue().encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def install(project: Path, target: Path, scratch: Path) -> None:
    """``pip install --no-deps --target target project``, offline.

    With the example's build backend (hatchling) in this environment, pip builds the
    package itself (``--no-build-isolation``: nothing is downloaded); without it (a fresh
    venv has none), the wheel is put together here from the same pyproject.toml and pip
    installs that.
    """
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
    if importlib.util.find_spec("hatchling") is not None:
        what = [str(project), "--no-build-isolation"]
    else:
        what = [str(_wheel_by_hand(project, scratch))]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(
        [*pip, "--target", str(target), *what], check=True, timeout=120, env=env, cwd=scratch
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder the example flow package is installed in (``pip install --target``)."""
    target = tmp_path_factory.mktemp("site")
    install(EXAMPLE, target, tmp_path_factory.mktemp("build"))
    assert (target / "ecomflow_returns" / "definition.py").is_file()
    return target


def child(*argv, path=(), cwd=None):
    """Start ``python *argv`` with ``path`` (and ecomflow's sources) importable."""
    pythonpath = os.pathsep.join([*map(str, path), str(SRC)])
    return subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )


def finish(started):
    out, err = started.communicate(timeout=300)
    return started.returncode, out, err


KIT_TEST = """
from hypothesis import settings

from ecomflow.flows import FLOWS
from ecomflow.testing import flow_machine

TestReturns = flow_machine(FLOWS["returns"]).TestCase
TestReturns.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
"""


def _broken_plugin(folder):
    """A folder with an installed distribution whose flow plug-in fails to import."""
    info = folder / "shop_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ecomflow.flows]\nbroken = shop_broken\n")
    (folder / "shop_broken.py").write_text("raise ImportError('no module named shop_db')\n")
    return folder


@pytest.fixture(scope="module")
def children(site, tmp_path_factory):
    """Every child process these tests read, started at once (each imports ecomflow anew)."""
    folder = tmp_path_factory.mktemp("children")
    (folder / "test_returns_kit.py").write_text(KIT_TEST, encoding="utf-8")
    broken = _broken_plugin(folder / "broken")
    db = f"sqlite:///{folder}/shop.db"
    ecomflow = ["-m", "ecomflow"]
    started = {
        "site": site,
        "db": db,
        "kit": child(
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_returns_kit.py",
            path=[site],
            cwd=folder,
        ),
        "list": child(*ecomflow, "list", path=[site]),
        "show": child(*ecomflow, "show", "returns", "--lang", "zh", path=[site]),
        "demo": child(*ecomflow, "demo", "returns", path=[site]),
        "simulate": child(
            *ecomflow,
            "simulate",
            "returns",
            "--orders",
            "30",
            "--db",
            db,
            "--seed",
            "3",
            path=[site],
        ),
        "broken": child(*ecomflow, "list", path=[broken, site]),
    }
    yield started
    for process in started.values():
        if isinstance(process, subprocess.Popen) and process.poll() is None:
            process.kill()  # a test that did not read it was deselected or failed early
            process.communicate()


def test_list_and_show_an_installed_flow(children):
    code, out, err = finish(children["list"])
    assert (code, err) == (0, "")
    listed = out.splitlines()
    assert [line.split()[0] for line in listed] == sorted([*BUILTIN, "returns"])
    assert "returns       Returns / 退货  『陆』 售后" in listed
    code, out, err = finish(children["show"])
    assert (code, err) == (0, "")
    assert out.startswith("stateDiagram-v2") and "已退款" in out


def test_demo_an_installed_flow(children):
    code, out, err = finish(children["demo"])
    assert (code, err) == (0, "")
    assert out.startswith("Returns (returns, 『陆』 售后)\n")
    assert "[money] refund_paid" in out and "[logistics] return_shipped" in out
    assert out.splitlines()[-1] == (
        "Finished in state 'refunded' after 4 transitions; "
        "9 events in 4 streams: commerce, information, logistics, money."
    )


def test_simulate_and_replay_an_installed_flow(children):
    code, out, err = finish(children["simulate"])
    assert (code, err) == (0, "")
    assert out.startswith("Simulated 30 returns transactions")
    assert "refunded" in out and "rejected" in out
    assert "balanced" in out and "NOT" not in out
    code, out, err = finish(
        child("-m", "ecomflow", "replay", "--db", children["db"], path=[children["site"]])
    )
    assert (code, err) == (0, "")
    assert "of 30 transactions: 30 rebuilt, 0 failed" in out and "NOT" not in out


def test_the_testing_kit_runs_on_an_installed_flow(children):
    code, out, err = finish(children["kit"])
    assert code == 0, out + err
    assert "1 passed" in out


def test_a_plugin_that_fails_to_load_is_one_warning_and_the_rest_works(children):
    code, out, err = finish(children["broken"])
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == sorted([*BUILTIN, "returns"])
    assert err == (
        "ecomflow: warning: ecomflow.flows entry point 'broken' (shop_broken) was not loaded: "
        "no module named shop_db\n"
    )


DOCS = ROOT / "docs" / "defining-flows.md"


def test_the_docs_show_the_example_package_word_for_word():
    # docs/defining-flows.md walks through the package: a block headed by one of its files
    # must be that file's text, so that what the page shows is what the tests above run.
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:python|toml)\n# (\S+)\n(.*?)```", text, flags=re.DOTALL)
    shown = [(name, body) for name, body in blocks if (EXAMPLE / name).is_file()]
    assert len(shown) >= 10, [name for name, _ in blocks]
    for name, body in shown:
        source = (EXAMPLE / name).read_text(encoding="utf-8")
        assert body in source, f"{DOCS.name} shows {name} otherwise:\n{body}"


# -- in this process: the registry and the command's messages ----------------------------


def _bare_flow(name="bare"):
    """A module holding a flow and no sample."""
    opened = Transition(
        "open", (), "open", Label("open", "打开"), emits=[Emit(Stream.COMMERCE, "opened")]
    )
    module = types.ModuleType(f"shop_{name}")
    module.FLOW = Flow(
        FlowDefinition(
            name=name,
            title=Label("Bare", "无样例"),
            source="tests",
            context_type=type(None),
            states=[
                State("open", Label("open", "打开")),
                State("closed", Label("closed", "关闭"), terminal=True),
            ],
            start=opened,
            transitions=[
                Transition(
                    "close",
                    "open",
                    "closed",
                    Label("close", "关闭"),
                    emits=[Emit(Stream.COMMERCE, "closed")],
                )
            ],
        )
    )
    return module


def test_a_flow_without_a_sample_gets_no_sample_naming_it():
    flows = Registry([_bare_flow()])
    with pytest.raises(NoSample) as info:
        flows.sample("bare")
    assert info.value.flow == "bare" and isinstance(info.value, LookupError)
    assert str(info.value) == (
        "Flow 'bare' has no sample, so it cannot be demonstrated or simulated: add SAMPLE = "
        "ecomflow.flows.Sample(...) to shop_bare.sample (see docs/defining-flows.md)."
    )
    with pytest.raises(NoSample, match="Flow 'bare' has no sample"):
        flows.scenario("bare")
    with pytest.raises(KeyError):
        flows.sample("nope")


def test_a_sample_without_a_scenario_can_demo_but_not_simulate():
    module = _bare_flow()
    module.SAMPLE = Sample(steps=[("close", {})])
    flows = Registry([module])
    tx, before = flows.sample("bare").demo(flows["bare"])
    assert (tx.id, tx.state, before) == ("bare-demo-1", "closed", [])
    with pytest.raises(NoSample, match=r"^Flow 'bare' has a sample without a scenario"):
        flows.scenario("bare")


@pytest.mark.parametrize("command", ["demo", "simulate"])
def test_demo_and_simulate_without_a_sample_print_one_line_and_exit_2(
    command, monkeypatch, capsys, tmp_path
):
    monkeypatch.setattr(cli, "FLOWS", Registry([_bare_flow()]))
    argv = [command, "bare"]
    if command == "simulate":
        argv += ["--db", f"sqlite:///{tmp_path}/shop.db"]
    out = io.StringIO()
    code = main(argv, out=out)
    err = capsys.readouterr().err
    assert (code, out.getvalue()) == (2, "")
    assert err.startswith("ecomflow: error: Flow 'bare' has no sample") and err.count("\n") == 1
    assert "add SAMPLE = ecomflow.flows.Sample(...) to shop_bare.sample" in err
    assert list(tmp_path.iterdir()) == []  # simulate refused before opening a store


def test_a_broken_or_clashing_plugin_is_left_out_with_a_warning(monkeypatch):
    points = [
        EntryPoint("broken", "shop_that_is_not_installed", registry.ENTRY_POINT_GROUP),
        EntryPoint("again", "ecomflow.flows.operation", registry.ENTRY_POINT_GROUP),
        EntryPoint("no-flow", "ecomflow.flows._shared", registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)
    from ecomflow.flows import direct_sale

    flows = Registry([direct_sale])
    with pytest.warns(PluginWarning) as caught:
        names = sorted(flows)
    assert names == ["direct-sale", "operation"]
    messages = [str(warning.message) for warning in caught]
    assert messages[0].startswith(
        "ecomflow.flows entry point 'broken' (shop_that_is_not_installed) was not loaded: "
    )
    assert messages[1].endswith("has no FLOW that is an ecomflow.Flow")
    assert len(messages) == 2 and issubclass(PluginWarning, RuntimeWarning)


def test_the_shipped_flows_have_samples():
    for name in ("b2b", "direct-sale", "operation"):
        sample = FLOWS.sample(name)
        assert sample.steps and sample.scenario is not None
