"""Every command in a real pseudo-terminal, 80 and 200 columns wide (issue 14).

xsell runs as a subprocess whose stdout is the slave end of a pty with its window size
set, so Rich sees what a person's terminal shows it. stderr goes to a pipe: the one-line
account of the inputs is the CLI's, not the table's.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A number as the table prints it: 1,234,567 · 12.5 · 48.2% · 1.25× · 99.8–100.0% · 2025-12-31
NUMBER = re.compile(r"^-?(\d{1,3}(,\d{3})*|\d+)(\.\d+)?[%×]?$")
TWO_DECIMALS = re.compile(r"^[\d,]+\.\d\d+$")

COMMANDS = [
    ["validate"],
    ["summary"],
    ["attach"],
    ["whitespace"],
    ["whitespace", "--account", "A-000042"],
    ["whitespace", "--by", "family"],
    ["expansion"],
    ["expansion", "--by", "segment"],
    ["timing"],
    ["timing", "--by", "pair"],
    ["flags"],
    ["flags", "--by", "rep"],
    ["retention"],
]


@dataclass
class Screen:
    stdout: str  # what the terminal was sent, CRLF turned back into LF
    stderr: str
    code: int

    @property
    def lines(self) -> list[str]:
        return ANSI.sub("", self.stdout).splitlines()


def run_in_terminal(args: list[str], *, columns: int, no_color: bool, export_columns: bool = True) -> Screen:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES")}
    env.update({"XSELL_CONFIG": "", "TERM": "xterm-256color"})
    if export_columns:
        env["COLUMNS"] = str(columns)
    if no_color:
        env["NO_COLOR"] = "1"
    with subprocess.Popen(
        [sys.executable, "-m", "crossell_cli", *args, "--data", str(SAMPLE)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    ) as proc:
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    return Screen(b"".join(chunks).decode().replace("\r\n", "\n"), stderr, code)


def _table_rows(lines: list[str]) -> list[str]:
    """The body of the table: the lines under the ──── rule, up to the first blank line,
    without the table's left margin."""
    rule = next((i for i, line in enumerate(lines) if line.lstrip().startswith("──")), None)
    assert rule is not None, "no table in:\n" + "\n".join(lines)
    margin = len(lines[rule]) - len(lines[rule].lstrip())
    rows: list[str] = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        rows.append(line[margin:])
    return rows


def _check_screen(screen: Screen, columns: int) -> None:
    assert screen.code == 0, screen.stderr
    lines = screen.lines
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, f"{len(too_wide)} line(s) wider than {columns}: the terminal would wrap them:\n" + "\n".join(
        too_wide[:3]
    )
    for row in _table_rows(lines):
        # One row, one line: a cell that wrapped leaves a continuation line with an empty first column.
        assert not row[:1].isspace(), f"a continuation line (a wrapped cell):\n{row}"
        for cell in re.split(r"\s{2,}|…", row):
            for token in re.findall(r"(?<![\w-])[\d][\d,.]*[%×]?", cell):
                assert NUMBER.match(token), f"{token!r} is a number cut in two, in:\n{row}"
            # A number cell: rates are percentages, money is whole units (the sample's money
            # columns all hold values over 100), days have one decimal at most: no 0.26.
            assert not TWO_DECIMALS.match(cell.strip()), f"{cell!r}: a raw fraction or cents, in:\n{row}"


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_80_columns_no_colour(args):
    screen = run_in_terminal(args, columns=80, no_color=True)
    assert "\x1b" not in screen.stdout, "NO_COLOR=1 left escape codes"
    _check_screen(screen, 80)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_200_columns_in_colour(args):
    screen = run_in_terminal(args, columns=200, no_color=False)
    _check_screen(screen, 200)
    assert "\x1b[" in screen.stdout, "a colour terminal without NO_COLOR gets styles"
    left_out = [line for line in screen.lines if "not shown" in line or "more column" in line]
    assert not left_out, f"a 200-column terminal shows every column: {left_out}"


def test_the_window_size_alone_is_enough():
    """Shells rarely export COLUMNS: the terminal's own size (TIOCGWINSZ) decides."""
    screen = run_in_terminal(["attach"], columns=80, no_color=True, export_columns=False)
    _check_screen(screen, 80)
    assert "not shown" in screen.stdout


def test_a_pipe_gets_no_escape_codes():
    proc = subprocess.run(
        [sys.executable, "-m", "crossell_cli", "attach", "--data", str(SAMPLE), "--format", "table"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, "XSELL_CONFIG": ""},
    )
    assert proc.returncode == 0
    assert "\x1b" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 200


def test_the_stderr_account_line_fits_80_columns():
    screen = run_in_terminal(["attach"], columns=80, no_color=True)
    assert screen.stderr == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"
