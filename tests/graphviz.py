"""What the picture tests need: Graphviz's dot and a font that draws Chinese.

Without them the tests skip with the reason, unless ``ECOMFLOW_REQUIRE_GRAPHVIZ=1`` (set in
CI, as ``ECOMFLOW_REQUIRE_POSTGRES`` is for PostgreSQL): then they fail.
"""

import os
import shutil
import subprocess

import pytest

REQUIRE = "ECOMFLOW_REQUIRE_GRAPHVIZ"
FONT = "WenQuanYi Micro Hei"


def _missing(reason):
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but {reason}")
    pytest.skip(reason)


def need_dot():
    """Skip (or fail in CI) unless Graphviz's dot is on the PATH."""
    if shutil.which("dot") is None:
        _missing("Graphviz's dot is not installed (apt-get install graphviz)")


def need_cjk_font():
    """Skip (or fail in CI) unless dot is there and fontconfig resolves the pictures' font."""
    need_dot()
    fc_match = shutil.which("fc-match")
    family = ""
    if fc_match is not None:
        found = subprocess.run(
            [fc_match, "-f", "%{family}", FONT], capture_output=True, text=True, check=False
        )
        family = found.stdout
    if FONT not in family:  # fontconfig would substitute a font without Chinese: boxes
        _missing(f"the font {FONT} is not installed (apt-get install fonts-wqy-microhei)")
