"""The docs site in a real browser: headless Chromium opens the flow pages and the notebooks.

Every diagram must have become an SVG that the browser lays out, with its Chinese labels as
text; no page may ask anything of the internet (such requests are blocked and recorded) or
raise a script error. Screenshots of each page are saved under the test's output folder.

Skips, saying why, where no Chromium or playwright is installed; ``ECOMFLOW_REQUIRE_BROWSER=1``
(set by .ci/run) makes that a failure.
"""

import functools
import http.server
import threading
from urllib.parse import urlsplit

import pytest

from tests.docs_site import FLOW_PAGES, NOTEBOOK, NOTEBOOK_FLOW, built_site, labels

# For each .ecomflow-diagram element: is it (or does it hold) an SVG, inline or as an <img>
# whose src is the SVG itself (a notebook's saved diagram), drawn by the browser; the SVG's
# laid-out size, its <title> (Graphviz writes the graph's name, the flow's) and its text.
_DIAGRAMS = """
elements => elements.map(element => {
  let svg = element.querySelector('svg');
  let box = svg ? svg.getBoundingClientRect() : null;
  const img = svg ? null : element.querySelector('img[src^="data:image/svg+xml"]');
  if (img !== null) {
    const text = decodeURIComponent(img.src.slice(img.src.indexOf(',') + 1));
    const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
    svg = parsed.querySelector('svg');
    box = img.complete && img.naturalWidth > 0 ? img.getBoundingClientRect() : null;
  }
  const title = svg ? svg.querySelector('g > title') : null;
  return {
    flow: element.dataset.flow || (title ? title.textContent : null),
    lang: element.dataset.lang || null,
    svg: svg !== null,
    width: box ? box.width : 0,
    height: box ? box.height : 0,
    text: svg ? Array.from(svg.querySelectorAll('text'), t => t.textContent).join(' ') : '',
  };
})
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    """The built site, served over HTTP on the loopback interface for the module's tests."""
    site = built_site(tmp_path_factory)
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", site
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium):
    """Headless Chromium (the system's, never a downloaded one), driven by playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, site_url, tmp_path):
    """Open a page of the site; return its diagrams, after saving a screenshot of it.

    A long page (``full_page=False``) is shot as its first screen and its first diagram.

    Requests to anything but the local server are aborted and recorded, as are script
    errors and failed local requests; the test fails on any.
    """
    base, _ = site_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    outside, errors = [], []

    def route(route):
        if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", route)

    def visit(path, full_page=True):
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{path}: {error}"))
        page.on(
            "response",
            lambda response: (
                errors.append(f"{path}: {response.status} {response.url}")
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None
            ),
        )
        response = page.goto(f"{base}/{path}", wait_until="load")
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        page.wait_for_load_state("networkidle")
        shot = tmp_path / (path.replace("/", "_").removesuffix(".html") + ".png")
        page.screenshot(path=str(shot), full_page=full_page)
        assert shot.stat().st_size > 10_000, f"{shot} is too small to show the page"
        first = page.query_selector(".ecomflow-diagram")
        if first is not None and not full_page:  # the page is long: its first diagram too
            first.screenshot(path=str(shot.with_name(shot.stem + "-diagram.png")))
        found = page.eval_on_selector_all(".ecomflow-diagram", _DIAGRAMS)
        page.close()
        assert not outside, f"{path} asked the internet for {outside}"
        assert not errors, f"errors in the browser: {errors}"
        return found

    yield visit
    context.close()


def _check(diagram, flow, lang):
    assert diagram["svg"], f"a {flow} diagram did not become an SVG"
    assert diagram["width"] > 50 and diagram["height"] > 30, f"{flow}: not laid out: {diagram}"
    missing = {label for label in labels(flow, lang) if label not in diagram["text"]}
    assert not missing, f"{flow} ({lang}): labels not drawn: {missing}"


@pytest.mark.parametrize("name", FLOW_PAGES)
def test_a_flow_page_draws_its_diagram_in_chinese_and_english(open_page, name):
    diagrams = open_page(f"docs/flows/{name}.html")
    assert [(d["flow"], d["lang"]) for d in diagrams] == [(name, "zh"), (name, "en")]
    for diagram in diagrams:
        _check(diagram, name, diagram["lang"])


def test_a_notebook_page_shows_its_saved_diagram_as_svg(open_page):
    (diagram,) = open_page(f"notebooks/{NOTEBOOK}.html")
    assert diagram["flow"] == NOTEBOOK_FLOW
    _check(diagram, NOTEBOOK_FLOW, "zh")


def test_every_notebook_draws_its_diagrams_as_svg_with_chinese(open_page, site_url):
    """The teaching notebooks, as saved in the repository: every diagram an SVG, some Chinese."""
    _, site = site_url
    pages = sorted(p.relative_to(site).as_posix() for p in (site / "notebooks").glob("*.html"))
    assert f"notebooks/{NOTEBOOK}.html" in pages
    for path in pages:
        diagrams = open_page(path, full_page=False)
        for diagram in diagrams:
            assert diagram["svg"], f"{path}: a diagram did not become an SVG"
            assert diagram["width"] > 0 and diagram["height"] > 0, f"{path}: {diagram}"
        chinese = [d for d in diagrams if any("\u4e00" <= c <= "\u9fff" for c in d["text"])]
        assert chinese or not diagrams, f"{path}: no diagram has a Chinese label"
