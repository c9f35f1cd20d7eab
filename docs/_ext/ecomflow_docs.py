"""Sphinx extension for ecomflow's docs site.

- The ``flow-diagram`` directive draws a flow at build time as an SVG picture (Graphviz's
  ``dot``, through ecomflow's own renderer) and inlines it, so a page needs no script and
  nothing from the internet to show it, and its Chinese labels are text in the SVG::

      ```{flow-diagram} direct-sale
      :lang: zh
      ```

  Without ``dot`` the directive reports an error naming the package to install, which fails
  the build (it runs with warnings as errors).
- The README is the home page: the site's table of contents is added to it when it is read
  (the file itself stays as it is), with every page of ``docs/`` and every notebook found.
- A link to a folder of the repository outside the site (``../examples/returns``) keeps its
  text and loses its target: the site has no page for it.
- The home page is also written as ``index.html``.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

LANGS = ("zh", "en")

# The order of the sections of the table of contents; pages not named here follow, sorted.
FLOW_PAGES = ("direct-sale", "intermediary", "operation", "b2b", "exchange")
GUIDES = (
    "direct-sale",
    "intermediary-and-operation",
    "b2b",
    "defining-flows",
    "diagrams",
    "testing",
    "store",
    "subscriptions",
    "deadlines",
    "versioning",
)
NOTEBOOKS = ("README", "direct_sale", "intermediary", "operation", "b2b")
CAPTIONS = {
    "flows": "The flows — 流程图",
    "guides": "Guides — 指南",
    "notebooks": "Notebooks — 笔记本",
}
_SVG_START = re.compile(r"<svg\b")


def known_flows() -> Mapping[str, Any]:
    """Every flow a page can draw: the registered flows and the exchange's order book."""
    from ecomflow.flows import EXCHANGE, FLOWS

    return {**FLOWS, EXCHANGE.name: EXCHANGE}


def inline_svg(name: str, lang: str) -> str:
    """Return flow ``name`` drawn in ``lang`` as an SVG element to put in a page.

    Raises ecomflow's ``GraphvizError`` (``GraphvizNotFound`` without ``dot``).
    """
    flow = known_flows()[name]
    svg = flow.diagram(format="dot", lang=lang).render("svg").decode("utf-8")
    match = _SVG_START.search(svg)
    return svg[match.start() :] if match else svg


class FlowDiagram(SphinxDirective):
    """``flow-diagram NAME`` with ``:lang: zh|en``: the flow drawn as an inline SVG."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Callable[[str], str]]] = {
        "lang": lambda value: directives.choice(value, LANGS)
    }

    def run(self) -> list[nodes.Node]:
        """Draw the flow; report an unknown flow or a missing Graphviz as an error."""
        from ecomflow import GraphvizError

        name = self.arguments[0]
        lang = self.options.get("lang", "zh")
        flows = known_flows()
        if name not in flows:
            raise self.error(
                f"flow-diagram: no flow named {name!r}; known: {', '.join(sorted(flows))} "
                f"(没有名为 {name!r} 的流程)"
            )
        try:
            svg = inline_svg(name, lang)
        except GraphvizError as error:
            raise self.error(f"flow-diagram {name} ({lang}): {error}") from error
        title = flows[name].definition.title(lang)
        block = (
            f'<figure class="ecomflow-diagram" data-flow="{html.escape(name)}" '
            f'data-lang="{lang}" lang="{"zh-CN" if lang == "zh" else "en"}" '
            f'aria-label="{html.escape(title)}">\n{svg}\n</figure>'
        )
        return [nodes.raw("", block, format="html")]


class FolderLinks(SphinxPostTransform):
    """Turn a Markdown link to a repository folder (no page of the site) into its text."""

    default_priority = 5  # before MyST resolves its links (9), which would warn

    def run(self, **kwargs: Any) -> None:
        """Replace each such link by its text."""
        source = Path(self.env.srcdir)
        here = (source / self.env.docname).parent
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst":
                continue
            target = (here / node["reftarget"]).resolve()
            if target.is_dir() and target.is_relative_to(source.resolve()):
                node.replace_self(node.children or nodes.literal(text=node["reftarget"]))


def _ordered(docnames: list[str], prefix: str, order: tuple[str, ...]) -> list[str]:
    named = [f"{prefix}{name}" for name in order if f"{prefix}{name}" in docnames]
    return named + sorted(name for name in docnames if name not in named)


def table_of_contents(found: set[str], root: str) -> str:
    """Return the MyST toctrees added to the home page: flows, guides, notebooks found."""
    flows = _ordered([d for d in found if d.startswith("docs/flows/")], "docs/flows/", FLOW_PAGES)
    guides = _ordered(
        [d for d in found if d.startswith("docs/") and d not in flows], "docs/", GUIDES
    )
    books = _ordered([d for d in found if d.startswith("notebooks/")], "notebooks/", NOTEBOOKS)
    others = sorted(found - {root, *flows, *guides, *books})
    parts = []
    for key, pages in (("flows", flows), ("guides", guides), ("notebooks", books), ("", others)):
        if pages:
            caption = f":caption: {CAPTIONS[key]}\n" if key else ""
            parts.append("```{toctree}\n:maxdepth: 1\n" + caption + "\n" + "\n".join(pages))
            parts[-1] += "\n```\n"
    return "\n\n" + "\n".join(parts)


def _add_contents(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == app.config.root_doc:
        source[0] += table_of_contents(set(app.env.found_docs), docname)


def _write_index(app: Sphinx, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    home = out / f"{app.config.root_doc}.html"
    if home.exists() and app.config.root_doc != "index":
        shutil.copyfile(home, out / "index.html")


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive and the home page's table of contents."""
    app.add_directive("flow-diagram", FlowDiagram)
    app.add_post_transform(FolderLinks)
    app.connect("source-read", _add_contents)
    app.connect("build-finished", _write_index)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
