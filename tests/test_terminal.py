"""Every command in a real pseudo-terminal, 80 and 200 columns wide (issue 14).

xsell runs as a subprocess whose stdout is the slave end of a pty with its window size
set, so Rich sees what a person's terminal shows it. stderr goes to a pipe: the one-line
account of the inputs is the CLI's, not the table's.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
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
    ["attach", "--matrix"],
    ["attach", "--level", "product", "--all"],
    ["attach", "--base", "Core"],
    ["whitespace"],
    ["whitespace", "--account", "A-000042"],
    ["whitespace", "--by", "family"],
    ["expansion"],
    ["expansion", "--by", "segment"],
    ["timing"],
    ["timing", "--by", "pair"],
    ["timing", "--by", "cohort"],
    ["flags"],
    ["flags", "--by", "rep"],
    ["retention"],
    ["profiles"],
]


@dataclass
class Screen:
    stdout: str  # what the program wrote to stdout (the terminal's text when stdout is the terminal)
    stderr: str  # stderr, when it is a pipe
    code: int
    terminal: str = ""  # everything the terminal was sent, CRLF turned back into LF

    @property
    def lines(self) -> list[str]:
        return ANSI.sub("", self.stdout).splitlines()


def run_in_terminal(
    args: list[str],
    *,
    columns: int,
    no_color: bool,
    export_columns: bool = True,
    stdout_tty: bool = True,
    stderr_tty: bool = False,
    env: dict[str, str] | None = None,
) -> Screen:
    """xsell on sample_data with stdout and/or stderr on a pseudo-terminal ``columns`` wide
    (the others are pipes)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES")}
    environ.update({"XSELL_CONFIG": "", "TERM": "xterm-256color"})
    if export_columns:
        environ["COLUMNS"] = str(columns)
    if no_color:
        environ["NO_COLOR"] = "1"
    environ.update(env or {})
    chunks: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    with subprocess.Popen(
        [sys.executable, "-m", "crossell_cli", "--data", str(SAMPLE), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
        cwd=REPO,
        env=environ,
    ) as proc:
        os.close(slave)
        reader = threading.Thread(target=read_terminal)
        reader.start()
        out, err = proc.communicate(timeout=300)
        reader.join(timeout=60)
        os.close(master)
    terminal = b"".join(chunks).decode().replace("\r\n", "\n")
    stdout = terminal if stdout_tty else out.decode()
    return Screen(stdout, "" if stderr_tty else err.decode(), proc.returncode, terminal)


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
    left_out = [line for line in lines if "not shown" in line]
    assert all(line.rstrip().endswith("--wide") for line in left_out), f"the left-out columns take one line: {left_out}"
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


# ---------------------------------------------------------------------------------------
# The progress line (issue 14 item 3): on the terminal while xsell reads and computes, and
# only when a person is watching. XSELL_PROGRESS_DELAY=0 shows it at once (the default waits
# a second, longer than sample_data takes).

NOW = {"XSELL_PROGRESS_DELAY": "0"}
ACCOUNT = "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected"
STEPS = re.compile(r"((?:reading|checking|computing) [^\r\n]*)")
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour and style codes (cursor moves are not colour)


@pytest.mark.parametrize("args", [["attach"], ["whitespace", "--by", "family"], ["validate"]], ids=" ".join)
def test_progress_on_the_terminal_names_the_file_then_the_step(args):
    screen = run_in_terminal(args, columns=80, no_color=True, stderr_tty=True, env=NOW)
    assert screen.code == 0
    steps = list(dict.fromkeys(m.strip() for m in STEPS.findall(ANSI.sub("", screen.terminal))))
    size = (SAMPLE / "line_items.csv").stat().st_size / 1e6
    files = f"line_items.csv ({size:.1f} MB), accounts.csv, products.csv"
    if args == ["validate"]:  # reading is the work: every row checked in one pass
        assert steps[-1] == f"checking {files}", steps
    else:
        assert f"reading {files}" in steps and steps[-1].startswith("computing "), steps
        assert steps.index(f"reading {files}") < len(steps) - 1
    assert not SGR.search(screen.terminal), "NO_COLOR=1 left colour codes in the progress line"
    # cleared before the answer: the table follows, and the account line ends the run
    assert screen.terminal.rstrip().endswith(ACCOUNT)
    assert max(len(line) for line in ANSI.sub("", screen.terminal).replace("\r", "\n").splitlines()) <= 80


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("stdout into a pipe", {"stdout_tty": False, "stderr_tty": True}),
        ("stderr into a pipe", {"stdout_tty": True, "stderr_tty": False}),
        ("-q", {"stdout_tty": True, "stderr_tty": True, "args": ["-q"]}),
        ("TERM=dumb", {"stdout_tty": True, "stderr_tty": True, "env": {**NOW, "TERM": "dumb"}}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_no_progress_unless_a_person_watches(case, options):
    options = dict(options)
    extra = options.pop("args", [])
    screen = run_in_terminal(["attach", *extra], columns=80, no_color=True, env=options.pop("env", NOW), **options)
    assert screen.code == 0
    assert not STEPS.search(screen.terminal + screen.stderr), case
    if options["stderr_tty"] and not extra:
        # stderr is the terminal: it got the account line and nothing else
        assert ANSI.sub("", screen.terminal.replace("\r", "")).splitlines()[-1] == ACCOUNT
    elif not extra:
        assert screen.stderr == ACCOUNT + "\n"


def test_no_progress_under_cron(tmp_path):
    """cron: no terminal, no TERM, a bare PATH; stdout and stderr are files."""
    out, err = tmp_path / "out.csv", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        code = subprocess.call(
            [sys.executable, "-m", "crossell_cli", "attach", "--data", str(SAMPLE)],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=REPO,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **NOW},
        )
    assert code == 0
    assert err.read_text() == ACCOUNT + "\n"
    assert out.read_text().startswith("base_family,target_family,")


DATA_COMMANDS = ["validate", "summary", "attach", "whitespace", "expansion", "timing", "flags", "retention"]


@pytest.mark.parametrize("command", DATA_COMMANDS)
def test_every_command_shows_progress_on_the_terminal_and_never_into_a_pipe(command):
    watched = run_in_terminal([command], columns=80, no_color=True, stderr_tty=True, env=NOW)
    assert watched.code == 0, watched.terminal
    assert STEPS.search(ANSI.sub("", watched.terminal)), f"{command}: no progress line on the terminal"
    piped = run_in_terminal([command], columns=80, no_color=True, stdout_tty=False, stderr_tty=True, env=NOW)
    assert piped.code == 0, piped.terminal
    assert not STEPS.search(piped.terminal + piped.stdout), f"{command}: progress while stdout is a pipe"


class _TTY(io.StringIO):
    """A stream that says it is a terminal, so that Rich draws the line into it."""

    def isatty(self) -> bool:
        return True


def test_at_no_delay_every_step_is_drawn_at_once():
    """XSELL_PROGRESS_DELAY=0 draws the line in the step that starts it, and each later step
    when it starts: a step shorter than a spinner frame (sample_data reads in a tenth of a
    second) is still seen. The line was drawn by a timer thread that first imported Rich; with
    a cold import the read had ended before it drew, and only "computing" ever showed."""
    from crossell_cli.progress import Progress

    stream = _TTY()
    progress = Progress(enabled=True, stream=stream, delay=0)
    progress.step("reading line_items.csv")
    progress.step("computing attach rates")
    progress.stop()
    drawn = stream.getvalue()
    assert "reading line_items.csv" in drawn and "computing attach rates" in drawn
    assert drawn.index("reading line_items.csv") < drawn.index("computing attach rates")
