"""The docs site: Sphinx builds it from the README, docs/ and the notebooks, warnings as errors.

Every flow has a page with its diagram in Chinese and English, drawn as SVG at build time,
and no page loads anything from the internet. (``tests/test_browser.py`` opens the pages in
a real browser.)
"""

import html
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest

from tests.docs_site import (
    FLOW_PAGES,
    NOTEBOOK,
    NOTEBOOK_FLOW,
    ROOT,
    built_site,
    diagrams,
    labels,
    need_sphinx,
    sphinx_build,
)
from tests.graphviz import need_cjk_font


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return built_site(tmp_path_factory)


def read(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_every_source_has_a_page(site):
    expected = ["index.html", "README.html", *(f"docs/flows/{n}.html" for n in FLOW_PAGES)]
    expected += [f"docs/{p.stem}.html" for p in (ROOT / "docs").glob("*.md")]
    expected += [f"notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("*.ipynb")]
    expected += [f"notebooks/{NOTEBOOK}.html"]
    missing = [page for page in expected if not (site / page).is_file()]
    assert not missing, f"no page for {missing}"
    assert read(site, "index.html") == read(site, "README.html")


def test_the_home_page_is_the_readme_with_its_links_and_the_table_of_contents(site):
    home = read(site, "index.html")
    assert "turns the e-commerce transaction processes" in home
    for link in ("docs/store.html", "docs/versioning.html", "docs/subscriptions.html"):
        assert f'href="{link}' in home, link
    for page in FLOW_PAGES:
        assert f'href="docs/flows/{page}.html"' in home, page
    assert f'href="notebooks/{NOTEBOOK}.html"' in home
    assert "流程图" in home and "指南" in home and "笔记本" in home


@pytest.mark.parametrize("name", FLOW_PAGES)
def test_a_flow_page_shows_its_diagram_in_chinese_and_english_as_svg(site, name):
    found = diagrams(read(site, f"docs/flows/{name}.html"))
    assert [(a["data-flow"], a["data-lang"]) for a, _ in found] == [(name, "zh"), (name, "en")]
    for attributes, text in found:
        missing = {label for label in labels(name, attributes["data-lang"]) if label not in text}
        assert not missing, f"{name} ({attributes['data-lang']}): labels not in the SVG: {missing}"


def test_a_notebook_page_shows_its_saved_diagram_as_svg(site):
    page = read(site, f"notebooks/{NOTEBOOK}.html")
    sources = re.findall(
        r'<div class="ecomflow-diagram"><img [^>]*src="data:image/svg\+xml;charset=utf-8,([^"]*)"',
        page,
    )
    assert len(sources) == 1  # the saved picture: an image of the SVG itself
    svg = urllib.parse.unquote(html.unescape(sources[0]))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert all(label in svg for label in labels(NOTEBOOK_FLOW, "zh"))


_EXTERNAL = re.compile(
    r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc=\"(?:https?:)?//"
    r"|<link\b[^>]*\bhref=\"(?:https?:)?//"
    r"|url\(['\"]?(?:https?:)?//"
    r"|@import\s+['\"]?(?:https?:)?//",
    re.IGNORECASE,
)


def test_no_page_or_stylesheet_loads_anything_from_the_internet(site):
    files = [*site.rglob("*.html"), *site.rglob("*.css")]
    assert len(files) > 20
    loads = {
        str(path.relative_to(site)): match.group(0)
        for path in files
        for match in [_EXTERNAL.search(path.read_text(encoding="utf-8", errors="replace"))]
        if match
    }
    assert not loads, f"pages load from the internet: {loads}"


def _small_site(folder: Path, flow: str) -> Path:
    """The site's configuration with a home page and one flow page drawing ``flow``."""
    (folder / "docs" / "flows").mkdir(parents=True)
    for name in ("conf.py", "_ext", "_static"):
        source = ROOT / "docs" / name
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, folder / "docs" / name)
    (folder / "README.md").write_text("# ecomflow\n", encoding="utf-8")
    page = (ROOT / "docs" / "flows" / "direct-sale.md").read_text(encoding="utf-8")
    (folder / "docs" / "flows" / "direct-sale.md").write_text(
        page.replace("](../", "](https://example.invalid/").replace(
            "{flow-diagram} direct-sale", f"{{flow-diagram}} {flow}"
        ),
        encoding="utf-8",
    )
    return folder


def test_a_warning_fails_the_build(tmp_path):
    """The build is strict: an unknown flow in a page is an error naming the known flows."""
    need_sphinx()
    need_cjk_font()
    good = sphinx_build(_small_site(tmp_path / "good", "direct-sale"), tmp_path / "good-site")
    assert good.returncode == 0, good.stderr
    bad = sphinx_build(_small_site(tmp_path / "bad", "nope"), tmp_path / "bad-site")
    assert bad.returncode != 0
    assert "no flow named 'nope'" in bad.stderr and "direct-sale" in bad.stderr
    assert "没有名为 'nope' 的流程" in bad.stderr
