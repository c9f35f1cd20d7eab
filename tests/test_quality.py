"""The code stays ruff-clean and mypy --strict clean: checked by the test suite itself."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*argv):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    lint = run(ruff, "check", "src", "tests", "benchmarks")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run(ruff, "format", "--check", "src", "tests", "benchmarks")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict_is_clean():
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def _shell_blocks(text):
    return [block.split("```", 1)[0].strip() for block in text.split("```sh\n")[1:]]


def test_ci_runs_exactly_the_readme_test_command():
    blocks = _shell_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    main_job, tests = blocks[0], blocks[1]
    assert "pip install -e ." in main_job and "ecomflow simulate" in main_job
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == tests, f".ci/run ends with {ci[-1]!r}, the README says {tests!r}"
