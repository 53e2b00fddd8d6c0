"""Every command shown in the header comment of an ``examples/*/xsell.yaml`` runs as shown
(issue 14 item 4): a comment that shows an option xsell does not have (``attach --top``)
fails here. A line may give its expected exit code: ``#   xsell validate …   # exit 65: why``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, realdata

pytestmark = pytest.mark.realdata
EXAMPLES = sorted((REPO / "examples").glob("*/xsell.yaml"))
SHOWN = re.compile(r"^#\s+(xsell\s.*?)(?:\s+#\s*exit (\d+)\b.*)?$")


def shown_commands(config: Path) -> list[tuple[str, int]]:
    """The `#   xsell …` lines of the comment block that opens the file, with their exit code."""
    commands = []
    for line in config.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = SHOWN.match(line)
        if match:
            commands.append((match[1], int(match[2] or 0)))
    return commands


CASES = [(config, command, code) for config in EXAMPLES for command, code in shown_commands(config)]


def test_every_example_shows_how_to_run_it():
    for config in EXAMPLES:
        commands = shown_commands(config)
        assert commands, f"{config} shows no command to run"
        assert all(f"-c examples/{config.parent.name}/xsell.yaml" in c for c, _ in commands), commands


@pytest.mark.parametrize(("config", "command", "code"), CASES, ids=[c for _, c, _ in CASES])
def test_example_command_runs_as_shown(config, command, code):
    realdata(config.parent.name)
    args = shlex.split(command)
    script = os.path.join(os.path.dirname(sys.executable), "xsell")
    result = subprocess.run(
        [script, *args[1:]],
        capture_output=True,
        text=True,
        cwd=REPO,  # "Run from the repository root"
        env={**os.environ, "XSELL_CONFIG": ""},
        timeout=600,
    )
    assert result.returncode == code, result.stderr
    assert result.stdout, result.stderr
    assert "Error:" not in result.stderr and "Traceback" not in result.stderr, result.stderr
