"""What the docs-site tests share: a copy of the sources, a notebook, a strict Sphinx build.

The site is built from a copy of the README, docs/, notebooks/, examples/ and src/ (the docs
link into them), with one more notebook of our own whose outputs are what Jupyter saves for a
diagram, so the repository is never written to and a notebook page always exists.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.graphviz import need_cjk_font

ROOT = Path(__file__).resolve().parent.parent
FLOW_PAGES = ("direct-sale", "intermediary", "operation", "b2b", "exchange")
NOTEBOOK = "browser_check"  # the test's own notebook: notebooks/browser_check.ipynb
NOTEBOOK_FLOW = "b2b"
COPIED = ("README.md", "docs", "notebooks", "examples", "src")  # the docs link into both

_built: dict[str, tuple[Path, subprocess.CompletedProcess]] = {}


def need_sphinx():
    """Skip unless the docs extra (Sphinx, MyST-NB, furo) is installed."""
    for module in ("sphinx", "myst_nb", "furo", "nbformat"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[docs]')")


def copy_sources(target: Path) -> Path:
    """Copy what the site is built from into ``target``; return it."""
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        elif source.exists():
            shutil.copy2(source, target / name)
    return target


def write_notebook(path: Path, flow: str = NOTEBOOK_FLOW) -> None:
    """Write a notebook drawing ``flow`` in Chinese, saved with the outputs Jupyter keeps.

    The output is the diagram's own display bundle (``_repr_mimebundle_``), which is what
    IPython records for it, so the page shows what a teacher's executed notebook shows.
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from ecomflow.flows import FLOWS

    source = f'from ecomflow.flows import FLOWS\nFLOWS["{flow}"].diagram(format="dot", lang="zh")'
    bundle = FLOWS[flow].diagram(format="dot", lang="zh")._repr_mimebundle_()
    cell = new_code_cell(source, execution_count=1)
    cell.outputs = [new_output("execute_result", data=bundle, execution_count=1)]
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# 浏览器检查 — a browser check\n\n流程图：电子商务的一般流程"),
            cell,
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, str(path))


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess:
    """Run the documented build (warnings as errors) of ``source`` into ``out``."""
    paths = [str(ROOT / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-c", "docs", ".", str(out)],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once per test session (with the test's notebook); return its folder."""
    need_sphinx()
    need_cjk_font()
    if "site" not in _built:
        source = copy_sources(tmp_path_factory.mktemp("site-source"))
        (source / "notebooks").mkdir(exist_ok=True)
        write_notebook(source / "notebooks" / f"{NOTEBOOK}.ipynb")
        out = tmp_path_factory.mktemp("site")
        _built["site"] = (out, sphinx_build(source, out))
    out, result = _built["site"]
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    return out


def states(flow):
    """Every state of ``flow``, nested ones included."""
    pending, found = list(flow.definition.states), []
    while pending:
        state = pending.pop(0)
        found.append(state)
        pending.extend(state.children)
    return found


def labels(name: str, lang: str) -> set[str]:
    """The labels a diagram of flow ``name`` in ``lang`` must show: its title and every state."""
    from ecomflow.flows import EXCHANGE, FLOWS

    flow = {**FLOWS, "exchange": EXCHANGE}[name]
    return {flow.definition.title(lang)} | {state.label(lang) for state in states(flow)}


_TEXT = re.compile(r"<text\b[^>]*>(.*?)</text>", re.DOTALL)
_FIGURE = re.compile(r'<figure class="ecomflow-diagram"([^>]*)>(.*?)</figure>', re.DOTALL)


def diagrams(page: str) -> list[tuple[dict[str, str], str]]:
    """The flow diagrams of a built page: each figure's attributes, and the text of its SVG."""
    found = []
    for attributes, body in _FIGURE.findall(page):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', attributes))
        assert "<svg" in body, f"a diagram without an SVG: {body[:200]}"
        found.append((attrs, " ".join(html.unescape(t) for t in _TEXT.findall(body))))
    return found
