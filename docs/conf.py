"""Sphinx configuration of ecomflow's docs site: the README, docs/ and the notebooks.

Build it from the repository root (``pip install -e '.[docs]'`` first), warnings as errors::

    python -m sphinx -W --keep-going -c docs . site

The source folder is the repository root, so the README is the home page and its links
(``docs/store.md``) resolve as they do on a forge; only the README, ``docs/`` and
``notebooks/`` are read. Flow diagrams are drawn as SVG at build time by Graphviz (see
``docs/_ext/ecomflow_docs.py``); the built pages load nothing from the internet.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))

project = "ecomflow"
author = "ecomflow developers"
copyright = "ecomflow developers"
language = "en"

extensions = ["myst_nb", "ecomflow_docs"]

root_doc = "README"
include_patterns = ["README.md", "docs/**", "notebooks/**"]
exclude_patterns = [
    ".venv",
    ".git",
    "site",
    "**/.ipynb_checkpoints",
    "docs/_ext",
    "docs/_static",
]

# Notebooks are shown as saved, with the outputs of their last run (they are executed by the
# test suite, not by the docs build).
nb_execution_mode = "off"
# Links to a heading (``testing.md#chinese-everywhere``) resolve as they do on a code host.
myst_heading_anchors = 3
# A diagram's display bundle also carries its DOT source (text/vnd.graphviz), which no front
# end renders; the page shows the bundle's HTML (the SVG as an image) instead. Only that warning
# is silenced, every other one fails the build.
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "furo"
html_title = "ecomflow"
html_static_path = ["_static"]
html_css_files = ["ecomflow.css"]
html_show_sourcelink = False
html_copy_source = False
pygments_style = "default"
