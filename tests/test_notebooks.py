"""The teaching notebooks: made by notebooks/_make.py, saved with their outputs, and never rotting.

Every notebook is re-executed in a fresh kernel here; a cell that raises fails the test, and
what it prints must be what the saved notebook shows (rebuild with
``python notebooks/_make.py`` after changing a flow or a notebook).
"""

import importlib.util
import os
import re
from pathlib import Path

import nbformat
import pytest

import ecomflow
from ecomflow.flows import FLOWS

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
STEMS = ["direct_sale", "intermediary", "operation", "b2b"]
TITLES = {
    "direct_sale": "# 网络商品直销 — The direct sale",
    "intermediary": "# 网络商品中介交易 — The intermediary trade",
    "operation": "# 电子商务的运作流程 — The operation flow",
    "b2b": "# 电子商务的一般流程 — The general B2B process",
}
REFUSALS = ("GuardRejected：", "TransitionNotAllowed：")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _make():
    spec = importlib.util.spec_from_file_location("ecomflow_notebooks_make", FOLDER / "_make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _make()


def _saved(stem):
    return nbformat.read(FOLDER / f"{stem}.ipynb", as_version=4)


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _printed(cell):
    """What a cell printed or showed as text: comparable wherever it runs, Graphviz or not."""
    shown = []
    for output in cell.outputs:
        if output.output_type == "stream":
            shown.append((output.name, output.text))
        elif output.output_type in ("display_data", "execute_result"):
            shown.append((output.output_type, output.data.get("text/plain", "")))
        else:
            shown.append((output.output_type, output.get("ename", "")))
    return shown


def _stdout(cell):
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


# -- what exists ------------------------------------------------------------------------------


def test_every_built_in_flow_has_its_notebook_and_the_index_lists_them():
    built_in = sorted(
        name
        for name in FLOWS
        if FLOWS[name].definition.context_type.__module__.startswith("ecomflow.flows.")
    )
    assert built_in == ["b2b", "direct-sale", "intermediary", "operation"]
    assert sorted(MAKE.NOTEBOOKS) == sorted(STEMS)
    index = (FOLDER / "README.md").read_text(encoding="utf-8")
    for name in built_in:
        stem = name.replace("-", "_")
        assert (FOLDER / f"{stem}.ipynb").is_file(), f"no notebook for flow {name!r}"
        assert f"FLOWS[{name!r}]".replace("'", '"') in _code_cells(_saved(stem))[0].source
        assert f"]({stem}.ipynb)" in index
    assert "jupyter lab notebooks/" in index and "pip install -e '.[notebooks]'" in index


def test_the_readme_says_how_to_teach_with_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Teach with it", 1)[1].split("\n## ", 1)[0]
    assert "pip install -e '.[notebooks]'" in section and "jupyter lab notebooks/" in section
    for stem in STEMS:
        assert f"notebooks/{stem}.ipynb" in section


# -- the saved notebooks ------------------------------------------------------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_saved_notebook_is_the_one_make_builds(stem):
    saved, built = _saved(stem), MAKE.build(stem)
    assert [(c.id, c.cell_type, c.source, c.metadata) for c in saved.cells] == [
        (c.id, c.cell_type, c.source, c.metadata) for c in built.cells
    ], "notebooks/_make.py and the saved notebook differ: run python notebooks/_make.py"
    nbformat.validate(saved)


@pytest.mark.parametrize("stem", STEMS)
def test_saved_notebook_starts_with_its_title_and_quotes_its_seed(stem):
    nb = _saved(stem)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.splitlines()[0] == TITLES[stem]
    seed_cell = nb.cells[1].source
    assert seed_cell.startswith("## 教材原文 / The seed's text")
    assert [line[2:] for line in seed_cell.splitlines() if line.startswith("> ")] == list(
        MAKE.SEEDS[stem]
    )


@pytest.mark.parametrize("stem", STEMS)
def test_saved_notebook_carries_its_outputs_so_a_code_host_shows_them(stem):
    path = FOLDER / f"{stem}.ipynb"
    assert path.stat().st_size < 1_500_000, f"{path.name} is {path.stat().st_size} bytes"
    nb = _saved(stem)
    cells = _code_cells(nb)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        assert "execution" not in cell.metadata  # no timings that churn
        for output in cell.outputs:
            assert output.output_type != "error", cell.source
            assert output.get("name") != "stderr", output.text
    assert nb.metadata.language_info == {"name": "python"}  # no Python version that churns
    text = path.read_text(encoding="utf-8")
    for machine_path in {str(ROOT), str(Path.home()) + "/", "/tmp/", "/home/"}:
        assert machine_path not in text
    # Every step shows the diagram as HTML that loads nothing (JupyterLab's choice), with the
    # transaction's current state marked and Chinese labels, and the lanes beside it.
    diagrams = [
        output.data
        for cell in cells
        for output in cell.outputs
        if output.get("data", {}).get("text/markdown", "").startswith("```mermaid\nstateDiagram")
    ]
    marked = [data for data in diagrams if "▶" in data["text/markdown"]]
    assert len(diagrams) >= 5 and len(marked) >= 4
    for data in diagrams:
        html = data["text/html"]
        assert "<script" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
        assert CJK.search(html)
        # the picture as an <img> of the SVG itself, which JupyterLab keeps in an untrusted
        # notebook (it strips inline <svg>); the table when there was no Graphviz
        assert "<svg" not in html.split('src="', 1)[0]
        assert ('src="data:image/svg+xml' in html) == ("image/svg+xml" in data)
    lanes = [
        o for c in cells for o in c.outputs if "信息流" in o.get("data", {}).get("text/html", "")
    ]
    assert len(lanes) >= len(marked)


@pytest.mark.parametrize("stem", STEMS)
def test_exercises_hide_their_answers_which_show_the_refusal(stem):
    nb = _saved(stem)
    answers = [cell for cell in _code_cells(nb) if "answer" in cell.metadata.get("tags", [])]
    assert len(answers) >= 2
    exercises = [c for c in nb.cells if c.source.startswith("### 练习 ")]
    assert len(exercises) == len(answers)
    for cell in answers:
        assert cell.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
        index = nb.cells.index(cell)
        assert "<summary>答案 / Answer</summary>" in nb.cells[index - 1].source
        printed = _stdout(cell)
        assert printed.startswith(REFUSALS), cell.source
        assert re.search(r"  [✗✓] ", printed), printed  # each reason, or what is allowed
    refusal = next(c for c in nb.cells if c.source.startswith("## 被拒绝的一步 / A refusal"))
    after = nb.cells[nb.cells.index(refusal) + 1]
    assert _stdout(after).startswith(REFUSALS) and "✗ " in _stdout(after)
    # every refusal printed is in Chinese first, then English: its message and each reason
    for cell in [after, *answers]:
        for line in _stdout(cell).splitlines():
            if line.startswith(REFUSALS):
                assert CJK.search(line.split("：", 1)[1]), line
            if line.startswith("  ✗ "):
                chinese, _, english = line.partition("：")[2].partition(" / ")
                assert CJK.search(chinese) and english and not CJK.search(english), line


# -- run them -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_runs_and_prints_what_is_saved(stem, monkeypatch):
    # The kernel imports the ecomflow this test imports, from wherever the kernel starts.
    package_root = str(Path(ecomflow.__file__).resolve().parent.parent)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    )
    saved = _saved(stem)
    fresh = nbformat.from_dict(saved)
    for cell in _code_cells(fresh):
        cell.outputs, cell.execution_count = [], None
    MAKE.execute(fresh)  # raises CellExecutionError, naming the cell, on any error output
    for old, new in zip(_code_cells(saved), _code_cells(fresh), strict=True):
        assert _printed(new) == _printed(old), (
            f"{stem}: this cell now prints something else; rebuild with "
            f"python notebooks/_make.py {stem}\n{old.source}"
        )
