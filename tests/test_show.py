"""A transaction shows itself: tx.diagram marks where it stands and the path it took.

The oracle for the path is the test's own walk: before each step it notes the active
states, and the arrow fired is the one arrow of ``flow.edges`` with that trigger leaving
one of them (or a state containing one). The pictures are checked in every format and
language after every step of every built-in flow's sample demo.
"""

import html
import itertools
import re
import shutil
import struct
import urllib.parse

import pytest

from ecomflow import Diagram, GraphvizError, GraphvizNotFound, InvalidPayload
from ecomflow._graph import entry, leaves_of, walk
from ecomflow.flows import FLOWS
from tests.graphviz import need_cjk_font, need_dot

NAMES = sorted(FLOWS)


@pytest.fixture
def dot():
    """Graphviz's dot: the test skips without it, unless ECOMFLOW_REQUIRE_GRAPHVIZ=1."""
    need_dot()


@pytest.fixture
def cjk_font():
    """Graphviz and a font that draws Chinese, as the pictures name it first (not boxes)."""
    need_cjk_font()


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH on which there is no dot."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


# -- the oracle --------------------------------------------------------------------------------


def _inside(leaf, state):
    return leaf == state or leaf.startswith(f"{state}.")


def walk_demo(name):
    """Yield ``(tx, path)`` at the start and after each demo step; ``path`` is the oracle's."""
    flow = FLOWS[name]
    sample = FLOWS.sample(name)
    tx, _ = sample.start_demo(flow)
    path = []
    yield tx, tuple(path)
    for trigger, kwargs in sample.steps:
        before = tx.active_states
        (edge,) = [
            edge
            for edge in flow.edges
            if edge.trigger == trigger and any(_inside(leaf, edge.source) for leaf in before)
        ]
        tx.fire(trigger, **kwargs)
        path.append(edge)
        yield tx, tuple(path)


def label_of(flow, edge, lang):
    (transition,) = [
        t
        for t in flow.definition.transitions
        if t.trigger == edge.trigger and edge.source in t.source
    ]
    return transition.label(lang)


def mid(path):
    return path.replace(".", "__")


def numbers(text):
    """Return the step numbers a marked label starts with: ``(1, 3) offer`` -> [1, 3]."""
    match = re.match(r"\((\d+(?:, \d+)*)\) ", text)
    return [] if match is None else [int(n) for n in match.group(1).split(", ")]


def texts(svg):
    """Return the text an SVG draws (Graphviz writes '-' as '&#45;')."""
    return {html.unescape(text) for text in re.findall(r">([^<]*)</text>", svg)}


STEPS = [(name, step) for name in NAMES for step, _ in enumerate(walk_demo(name))]


# -- every step, every format, every language --------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_mermaid_marks_the_current_states_and_numbers_the_path(name, lang):
    flow = FLOWS[name]
    for tx, path in walk_demo(name):
        diagram = tx.diagram(lang=lang)
        assert diagram.current == tx.active_states
        assert diagram.path == path
        lines = diagram.splitlines()
        assert lines[0] == "stateDiagram-v2"
        (current,) = [line for line in lines if line.endswith(" current") and "class " in line]
        assert current.split()[1].split(",") == [mid(leaf) for leaf in tx.active_states]
        # Mermaid styles no state inside a composite one: the label carries the mark too
        marked = [line.split(" as ")[1] for line in lines if line.lstrip().startswith('state "▶ ')]
        assert marked == [mid(leaf) for leaf in tx.active_states]
        marked = {}
        for line in lines:
            if " --> " in line and " : " in line:
                label = line.split(" : ", 1)[1]
                for number in numbers(label):
                    assert number not in marked
                    marked[number] = line
        assert sorted(marked) == list(range(len(path) + 1))
        assert marked[0].startswith(f"    [*] --> {mid(flow.initial)} : (0) ")
        for number, edge in enumerate(path, start=1):
            line = marked[number]
            assert line.startswith(f"    {mid(edge.source)} --> {mid(edge.dest)} : (")
            assert label_of(flow, edge, lang) in line


def _dot_marks(source):
    nodes = re.findall(r'^\s*"([^"]+)" \[[^\n]*class="current"', source, re.M)
    fired = re.findall(
        r'^\s*"([^"]+)" -> "([^"]+)" \[label="([^"]*)"[^\n]*class="fired"', source, re.M
    )
    return nodes, fired


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dot_marks_the_current_states_and_draws_the_path_bold(name, lang):
    flow = FLOWS[name]
    states = dict(walk(flow.definition.states))
    for tx, path in walk_demo(name):
        diagram = tx.diagram("dot", lang)
        assert diagram.current == tx.active_states and diagram.path == path
        nodes, fired = _dot_marks(diagram)
        assert nodes == list(tx.active_states)
        by_number = {}
        for tail, head, label in fired:
            for number in numbers(label):
                assert number not in by_number
                by_number[number] = (tail, head, label)
        assert sorted(by_number) == list(range(len(path) + 1))
        assert len(fired) == len({(e.source, e.trigger) for e in path}) + 1
        for number, edge in enumerate(path, start=1):
            tail, head, label = by_number[number]
            # A composite state's arrow is attached to its first leaf (clipped at its box).
            assert tail == leaves_of(entry(states, edge.source))[0]
            assert head == leaves_of(entry(states, edge.dest))[0]
            assert label_of(flow, edge, lang) in label


@pytest.mark.usefixtures("cjk_font")
@pytest.mark.parametrize(("name", "step"), STEPS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_svg_and_html_mark_the_current_states_after_every_step(name, step, lang):
    flow = FLOWS[name]
    tx, path = next(itertools.islice(walk_demo(name), step, None))
    diagram = tx.diagram(lang=lang)
    svg = diagram._repr_svg_()
    assert svg.startswith("<svg")
    current = re.findall(r'<g id="[^"]+" class="node current">\s*<title>([^<]+)</title>', svg)
    assert current == list(tx.active_states)
    fired = svg.count('class="edge fired"')
    assert fired == len({(e.source, e.trigger) for e in path}) + 1
    for leaf in tx.active_states:  # the state's label is drawn as text, in the language
        assert flow.state(leaf).label(lang) in texts(svg)
    page = diagram._repr_html_()
    assert _svg_of(page) == svg
    _assert_offline(page)


def _svg_of(page):
    """The SVG an HTML diagram shows as an ``<img>`` whose src is the SVG itself."""
    (src,) = re.findall(r'<img [^>]*src="data:image/svg\+xml;charset=utf-8,([^"]*)"', page)
    return urllib.parse.unquote(html.unescape(src))


# What JupyterLab's sanitizer keeps of an untrusted notebook's HTML (packages/apputils/src/
# sanitizer.ts): among others div and img, with class/style/alt/src; an img's src is not
# checked against a list of schemes there, so a data: address is kept. <svg> is not kept.
_KEPT = {"div": {"class", "style"}, "img": {"class", "style", "alt", "src"}}


@pytest.mark.usefixtures("dot")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_html_picture_survives_jupyterlabs_sanitizer(lang):
    """A notebook fresh from the repository is untrusted: its diagrams must still show."""
    diagrams = [FLOWS[name].diagram(format="dot", lang=lang) for name in NAMES]
    diagrams += [tx.diagram(lang=lang) for name in NAMES for tx, _ in walk_demo(name)][-3:]
    for diagram in diagrams:
        page = diagram._repr_html_()
        tags = re.findall(r"<([a-z]+)((?:\s+[a-z-]+=\"[^\"]*\")*)\s*/?>", page)
        assert tags and all(tag in _KEPT for tag, _ in tags), page[:200]
        for tag, attributes in tags:
            assert set(re.findall(r'([a-z-]+)="[^"]*"', attributes)) <= _KEPT[tag]
        assert "<svg" not in page and "</svg" not in page
        assert _svg_of(page).startswith("<svg") and diagram._title() in html.unescape(page)


def _assert_offline(page):
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    # Only the SVG namespaces name a web address: nothing is fetched from one.
    page = html.unescape(page).replace("%0A", "\n")  # as the browser reads an <img>'s SVG
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }


@pytest.mark.usefixtures("no_dot")
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_graphviz_the_html_is_a_marked_table(name, lang):
    flow = FLOWS[name]
    for tx, path in walk_demo(name):
        diagram = tx.diagram(lang=lang)
        assert diagram._repr_svg_() is None
        page = diagram._repr_html_()
        _assert_offline(page)
        assert "<svg" not in page
        current = re.findall(r'<li class="current"[^>]*>[^<]*<code>([^<]+)</code>', page)
        assert current == list(tx.active_states)
        rows = re.findall(
            r'<tr class="fired"[^>]*><td><code>([^<]+)</code></td>.*?<td>([\d, ]+)</td></tr>', page
        )
        steps = sorted(int(n) for _, text in rows for n in text.split(", "))
        assert steps == list(range(len(path) + 1))
        for number, edge in enumerate(path, start=1):
            (source,) = [source for source, text in rows if number in map(int, text.split(", "))]
            assert source == edge.source
        assert html.escape(flow.title(lang)) in page


# -- pictures ----------------------------------------------------------------------------------


def _size(svg):
    match = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert match, svg[:300]
    return float(match.group(1)), float(match.group(2))


@pytest.mark.usefixtures("cjk_font")
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pictures_have_a_title_and_a_readable_aspect_ratio(name, lang):
    flow = FLOWS[name]
    *_, (tx, _) = walk_demo(name)
    for diagram in (flow.diagram("dot", lang), tx.diagram("mermaid", lang)):
        svg = diagram.render("svg").decode("utf-8")
        width, height = _size(svg)
        assert 1 / 3 < width / height < 3, (width, height)
        assert f"{flow.title(lang)} ({flow.source})" in texts(svg)
        png = diagram.render("png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        png_width, png_height = struct.unpack(">II", png[16:24])
        assert 1 / 3 < png_width / png_height < 3


@pytest.mark.usefixtures("cjk_font")
@pytest.mark.parametrize("name", NAMES)
def test_chinese_labels_are_text_in_a_font_that_has_them(name):
    flow = FLOWS[name]
    svg = flow.diagram("dot", "zh").render("svg").decode("utf-8")
    for path, state in walk(flow.definition.states):
        assert state.label.zh in texts(svg), path
    families = set(re.findall(r'font-family="([^"]+)"', svg))
    assert families and all(f.startswith("WenQuanYi Micro Hei,") for f in families)


def test_a_flow_diagram_stays_unmarked():
    flow = FLOWS["b2b"]
    for fmt in ("mermaid", "dot"):
        diagram = flow.diagram(fmt, "zh")
        assert diagram.current == () and diagram.path == ()
        assert "current" not in diagram and "fired" not in diagram and "(0)" not in diagram


def test_the_picture_runs_top_to_bottom_with_a_cjk_font():
    dot = FLOWS["direct-sale"].diagram("dot")
    assert "rankdir=TB" in dot and 'fontname="WenQuanYi Micro Hei,' in dot


# -- without Graphviz ----------------------------------------------------------------------------


@pytest.mark.usefixtures("no_dot")
def test_without_dot_rendering_names_the_package_to_install():
    diagram = FLOWS["direct-sale"].diagram("dot")
    with pytest.raises(GraphvizNotFound) as info:
        diagram.render("png")
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert isinstance(info.value, GraphvizError) and isinstance(info.value, FileNotFoundError)
    assert diagram._repr_svg_() is None
    bundle = diagram._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and "<table" in bundle["text/html"]


def test_bad_render_arguments():
    with pytest.raises(InvalidPayload, match="the formats are svg, png"):
        FLOWS["operation"].diagram().render("gif")
    with pytest.raises(InvalidPayload, match="made from text alone"):
        Diagram("stateDiagram-v2", "mermaid").render()
    assert Diagram("stateDiagram-v2", "mermaid")._repr_svg_() is None
    assert Diagram("a<b", "mermaid")._repr_html_() == '<pre class="ecomflow-diagram">a&lt;b</pre>'


@pytest.mark.usefixtures("dot")
def test_a_diagram_made_from_dot_text_renders():
    diagram = Diagram('digraph { a -> b [label="付款"] }', "dot")
    assert diagram._repr_svg_().startswith("<svg")
    assert diagram.render("svg").startswith(b"<?xml")
    with pytest.raises(GraphvizError, match="exited with status"):
        Diagram("digraph {", "dot").render()


# -- a restored transaction -----------------------------------------------------------------------


def test_a_transaction_restored_without_its_history_marks_where_it_stands_only():
    flow = FLOWS["direct-sale"]
    sample = FLOWS.sample("direct-sale")
    tx, _ = sample.start_demo(flow)
    for trigger, kwargs in sample.steps[:3]:
        tx.fire(trigger, **kwargs)
    snapshot = flow.snapshot(tx)
    (trigger, kwargs), *_ = sample.steps[3:]
    tx.fire(trigger, **kwargs)
    after = [event for event in tx.events if event.version > 3]
    restored = flow.restore(snapshot, after)
    diagram = restored.diagram("dot")
    assert diagram.current == tx.active_states
    assert diagram.path == () and "(0)" not in diagram  # the way it came is not known
    assert len(_dot_marks(diagram)[0]) == 1 and _dot_marks(diagram)[1] == []
    full = flow.restore(snapshot, after, history=lambda: [e for e in tx.events if e.version <= 3])
    assert full.diagram().path == tx.diagram().path and len(full.diagram().path) == 4


def test_a_transaction_loaded_from_a_snapshot_in_a_store_shows_its_whole_path():
    from ecomflow.store import MemoryStore, Repository

    name = "b2b"
    *_, (expected, path) = walk_demo(name)
    repo = Repository(MemoryStore(), FLOWS, snapshot_every=5, cache_size=0)
    sample = FLOWS.sample(name)
    repo.start(name, expected.id, **sample.start)
    for trigger, kwargs in sample.steps:
        repo.execute(expected.id, trigger, **kwargs)
    loaded = repo.load(expected.id)
    assert loaded._loader is not None  # restored from its snapshot, the history not read yet
    assert loaded.diagram().path == path and len(path) == len(sample.steps)
    assert loaded.diagram("dot", "zh") == expected.diagram("dot", "zh")
    assert loaded.board("zh") == expected.board("zh")
