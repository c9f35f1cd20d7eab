"""The docs' examples import the example flow package from examples/returns, as installed."""

from pathlib import Path

import pytest

# The docs site's Sphinx configuration and extension are not examples to run.
collect_ignore = ["conf.py", "_ext"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "returns"


@pytest.fixture(autouse=True)
def _example_flow_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``ecomflow_returns`` importable (not registered: that needs it installed)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
