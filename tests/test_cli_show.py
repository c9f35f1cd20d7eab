"""ecomflow show: a flow's or a stored transaction's diagram as text, or a picture file."""

import io
import re

import pytest

from ecomflow.cli import main
from ecomflow.flows import FLOWS
from ecomflow.store import Repository, open_store
from tests.graphviz import need_cjk_font, need_dot
from tests.test_show import _assert_offline, _size, texts


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def shop(tmp_path):
    """A SQLite store holding the direct sale's demo, stopped after three steps."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    store = open_store(url)
    repo = Repository(store, FLOWS)
    sample = FLOWS.sample("direct-sale")
    repo.start("direct-sale", "A-17", **sample.start)
    for trigger, kwargs in sample.steps[:3]:
        repo.execute("A-17", trigger, **kwargs)
    store.close()
    return url


def test_text_formats_mark_a_stored_transaction(shop):
    code, out = run("show", "direct-sale", "--tx", "A-17", "--db", shop, "--lang", "zh")
    assert code == 0
    assert out.rstrip("\n") == FLOWS["direct-sale"].replay(_events(shop)).diagram(lang="zh")
    assert "class payment_declined current" in out
    code, out = run("show", "direct-sale", "--tx", "A-17", "--db", shop, "--format", "dot")
    assert code == 0 and 'class="current"' in out and out.count('class="fired"') == 4


def _events(url):
    store = open_store(url, create=False)
    try:
        return store.load("A-17")[1]
    finally:
        store.close()


def test_pictures_are_written_to_a_file(tmp_path, monkeypatch, shop):
    need_cjk_font()
    monkeypatch.chdir(tmp_path)
    code, out = run("show", "b2b", "--format", "svg", "--lang", "zh")
    assert (code, out) == (0, "已写入 b2b.svg\n")
    svg = (tmp_path / "b2b.svg").read_text(encoding="utf-8")
    width, height = _size(svg)
    assert width / height < 3 and "电子商务的一般流程 (『捌』)" in texts(svg)
    code, out = run("show", "direct-sale", "--format", "png", "-o", str(tmp_path / "p.png"))
    assert code == 0 and out == f"Wrote {tmp_path / 'p.png'}\n"
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    code, out = run("show", "direct-sale", "--format", "html", "--tx", "A-17", "--db", shop)
    assert (code, out) == (0, "Wrote direct-sale-A-17.html\n")
    page = (tmp_path / "direct-sale-A-17.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert '<table class="ecomflow-board">' in page and "A-17" in page
    assert 'class="node current"' in page
    _assert_offline(page)


def test_a_dash_writes_text_to_standard_output():
    need_dot()
    code, out = run("show", "operation", "--format", "svg", "-o", "-")
    assert code == 0 and out.startswith("<?xml") and out.rstrip().endswith("</svg>")
    code, out = run("show", "operation", "--format", "dot", "-o", "-")
    assert code == 0 and out.startswith("digraph")


def test_the_text_formats_can_go_to_a_file(tmp_path):
    target = tmp_path / "flow.mmd"
    code, out = run("show", "operation", "--lang", "zh", "-o", str(target))
    assert (code, out) == (0, f"已写入 {target}\n")
    assert target.read_text(encoding="utf-8") == FLOWS["operation"].diagram(lang="zh") + "\n"


def _error(capsys, *argv):
    code = main(list(argv), out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err


def test_without_graphviz_a_picture_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for fmt in ("svg", "png", "html"):
        err = _error(capsys, "show", "b2b", "--format", fmt)
        picture = "a PNG" if fmt == "png" else "an SVG"
        assert err.startswith(f"ecomflow: error: Cannot draw {picture} picture: Graphviz's dot")
        assert "apt-get install graphviz" in err and "brew install graphviz" in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_errors(shop, tmp_path, capsys):
    err = _error(capsys, "show", "b2b", "--tx", "A-17", "--db", shop)
    assert "it is a direct-sale transaction; run ecomflow show direct-sale --tx A-17." in err
    assert "No transaction 'nope' in the store." in _error(
        capsys, "show", "b2b", "--tx", "nope", "--db", shop
    )
    assert "--db needs --tx TX_ID" in _error(capsys, "show", "b2b", "--db", shop)
    assert "No store at" in _error(
        capsys, "show", "b2b", "--tx", "A-17", "--db", f"sqlite:///{tmp_path / 'none.db'}"
    )
    assert "name a file with -o FILE" in _error(capsys, "show", "b2b", "--format", "png", "-o", "-")
    assert "Cannot write" in _error(
        capsys, "show", "b2b", "-o", str(tmp_path / "missing" / "x.mmd")
    )


def test_bad_format_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["show", "b2b", "--format", "gif"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(r"invalid choice: 'gif' \(choose from .*svg.*png.*html", err)
