"""ruff (lint and format) and mypy --strict run with the tests, so CI holds the code to them
(pyproject.toml configures both; the tools come with the `test` extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "args",
    [
        ("ruff", "check", "crossell_cli", "tests", "benchmarks"),
        ("ruff", "format", "--check", "crossell_cli", "tests", "benchmarks"),
        ("mypy",),  # strict, over the package (pyproject.toml [tool.mypy])
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_code_passes(args: tuple[str, ...]) -> None:
    done = run(*args)
    assert done.returncode == 0, done.stdout + done.stderr
