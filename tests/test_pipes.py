"""`xsell … | head` ends quietly: exit 0 (or the command's own verdict) and nothing on stderr
but the row account (issue 14, item 1).

Every command runs as a real process in a real shell pipeline with ``set -o pipefail``, so
the status is xsell's own. Two readers:

- ``head -n 0`` exits before xsell writes a byte, so every write fails with EPIPE whatever
  the size of the output: every command and every machine format meets a broken pipe;
- ``head -1`` is what people type; it breaks the pipe only when the output is longer than
  the pipe's buffer (64 KiB), as whitespace's is on sample_data and validate's on a file of
  bad rows.

stderr is compared whole: before the fix it said "Internal error: OSError: Broken pipe (os
error 32) — This is a bug in xsell…" and exited 70, and a check for a missing spelling
("BrokenPipe") let that through.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

ACCOUNT = "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"
VALIDATE = (
    "line_items: 15,965 rows, 15,769 used, 196 open (no metric uses them), 0 rejected, 835 warnings"
    " — sample_data/line_items.csv\n"
    "accounts: 4,000 rows, 4,000 used, 0 rejected, 0 warnings — sample_data/accounts.csv\n"
    "products: 14 rows, 14 used, 0 rejected, 0 warnings — sample_data/products.csv\n"
    "warning: overlapping subscriptions: 835 won lines start while another line of the same product is active "
    "for the account (rule overlapping_lines lists them); on 2025-12-31, 733 of the 11,409 account × product "
    "pairs with an active line hold 2 or more at once (up to 3: account A-000140, product CORE-PRO). ARR, "
    "expansion and retention add them up: right for added seats, inflated when a new subscription replaces "
    "an old one that the export never ends\n"
) + ACCOUNT

# Every command, with the options that make its output longest on sample_data.
COMMANDS: list[tuple[list[str], str]] = [
    (["attach", "--all", "--level", "product"], ACCOUNT),
    (["attach", "--matrix"], ACCOUNT),
    (["whitespace"], ACCOUNT),
    (["whitespace", "--by", "family"], ACCOUNT),
    (["expansion", "--period", "month", "--by", "rep"], ACCOUNT),
    (["timing", "--by", "pair"], ACCOUNT),
    (["flags", "--all-findings"], ACCOUNT),
    (["flags", "--by", "rep"], ACCOUNT),
    (["retention"], ACCOUNT),
    (["summary"], ACCOUNT),
    (["validate"], VALIDATE),
]
FORMATS = ["csv", "json", "jsonl"]


def pipeline(args: list[str], reader: str, *, stderr_too: bool = False) -> subprocess.CompletedProcess[str]:
    """``xsell ARGS | READER`` in bash with pipefail: the status is xsell's unless it is 0.
    ``stderr_too``: ``xsell ARGS 2>&1 | READER``."""
    xsell = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "crossell_cli", *args])
    both = " 2>&1" if stderr_too else ""
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {xsell}{both} | {reader} >/dev/null"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "XSELL_CONFIG": ""},
        timeout=300,
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("args", "stderr"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_every_command_and_format_into_a_pipe_already_closed(args, stderr, fmt):
    result = pipeline([*args, "--data", "sample_data", "--format", fmt], "head -n 0")
    assert (result.returncode, result.stderr) == (0, stderr)


@pytest.mark.parametrize("args", [["whitespace"], ["attach", "--all"], ["validate"]], ids=" ".join)
def test_parquet_into_a_closed_pipe(args):
    result = pipeline([*args, "--data", "sample_data", "--format", "parquet"], "head -n 0")
    assert (result.returncode, result.stderr) == (0, VALIDATE if args == ["validate"] else ACCOUNT)


@pytest.mark.parametrize(("args", "_stderr"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_quiet_into_a_closed_pipe_says_nothing(args, _stderr):
    result = pipeline([*args, "--data", "sample_data", "-q"], "head -n 0")
    assert (result.returncode, result.stderr) == (0, "")


def test_profiles_into_a_closed_pipe():
    for fmt in ("csv", "json"):
        result = pipeline(["profiles", "--format", fmt], "head -n 0")
        assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_whitespace_into_head_1(fmt):
    """3 MB of whitespace rows: head -1 leaves after the first line."""
    result = pipeline(["whitespace", "--data", "sample_data", "--format", fmt], "head -1")
    assert (result.returncode, result.stderr) == (0, ACCOUNT)


@pytest.fixture(scope="module")
def bad_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 line items, every other one with a date that is not a date: validate lists
    10,000 rejected rows (about 1.5 MB of CSV)."""
    path = tmp_path_factory.mktemp("pipes") / "line_items.csv"
    rows = ["account_id,product_id,booked_at,amount"]
    for i in range(20_000):
        rows.append(f"A{i % 500},P{i % 7},{'2024-01-15' if i % 2 else 'not a date'},{100 + i}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_validate_of_many_bad_rows_into_head_1_keeps_its_verdict(bad_rows, fmt):
    """The rejected rows do not fit the pipe: validate still exits 65 (rows were rejected),
    with the account, and nothing else, on stderr."""
    result = pipeline(["validate", "--line-items", str(bad_rows), "--format", fmt], "head -1")
    assert result.returncode == 65
    assert result.stderr == (
        f"line_items: 20,000 rows, 10,000 used, 10,000 rejected, 0 warnings — {bad_rows}\n"
        "20,000 line items: 10,000 used, 10,000 rejected\n"  # validate does not send you to itself
    )


def test_flags_fail_on_keeps_its_verdict_into_a_closed_pipe():
    result = pipeline(["flags", "--data", "sample_data", "--fail-on", "high", "-q"], "head -n 0")
    assert (result.returncode, result.stderr) == (1, "40 of 150 findings at or above high; --fail-on high matched\n")


# ---------------------------------------------------------------------------------------
# `| head -1`, as people type it, for every command. A pipe holds 64 KiB, so head -1
# only breaks it when xsell writes more; the pipe here is shrunk to 4 KiB (the least
# Linux gives), so every command whose output on sample_data is longer than that meets the
# broken pipe in the middle of writing it (attach, whitespace, expansion, timing, flags,
# validate). summary, retention, attach --matrix, whitespace --by family and flags --by rep
# write one short result in one go: head -n 0 above breaks theirs. xsell's own status is read
# (pipefail's question), and -q leaves nothing on stderr unless something went wrong.

PIPE_SIZE = 4096


def into_head_1(args: list[str]) -> tuple[int, str, bytes]:
    """``xsell ARGS | head -1`` through a 4 KiB pipe: xsell's status, its stderr, and what
    head printed."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    with (
        subprocess.Popen(["head", "-1"], stdin=read_end, stdout=subprocess.PIPE) as head,
        subprocess.Popen(
            [sys.executable, "-m", "crossell_cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env={**os.environ, "XSELL_CONFIG": ""},
        ) as xsell,
    ):
        os.close(read_end)
        os.close(write_end)
        first, _ = head.communicate(timeout=300)
        _, stderr = xsell.communicate(timeout=300)
    return xsell.returncode, stderr.decode(), first


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize(("args", "_stderr"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_every_command_into_head_1(args, _stderr, fmt):
    code, stderr, first = into_head_1([*args, "--data", "sample_data", "--format", fmt, "-q"])
    assert (code, stderr) == (0, "")
    assert first.count(b"\n") == 1 and len(first) > 1


@pytest.mark.parametrize("reader", ["head -n 0", "head -1"])
def test_validate_with_stderr_in_the_pipe_too_keeps_its_verdict(bad_rows, reader):
    """`xsell validate … 2>&1 | head`: stderr's reader goes away with stdout's, and the row
    account cannot be said. The exit code is still the data's 65 (before: the broken stderr
    ended the command with a broken pipe's 0)."""
    result = pipeline(["validate", "--line-items", str(bad_rows)], reader, stderr_too=True)
    assert (result.returncode, result.stderr) == (65, "")


@pytest.mark.parametrize("reader", ["head -n 0", "head -1"])
@pytest.mark.parametrize(
    "args",
    [["summary"], ["attach", "--all", "--level", "product"], ["flags", "--by", "rep"]],
    ids=["summary", "attach --all", "flags --by rep"],
)
def test_a_table_into_a_closed_pipe_ends_as_the_command_would(args, reader):
    """`-f table | head`: Rich's console met the broken pipe first and ended the process
    itself with exit 1 and nothing on stderr (exit 1 is --fail-on's verdict)."""
    result = pipeline([*args, "--data", "sample_data", "--format", "table"], reader)
    assert (result.returncode, result.stderr) == (0, ACCOUNT)


def test_a_table_of_rejected_rows_into_a_closed_pipe_keeps_validates_verdict(bad_rows):
    """(In a table the tables' own accounts are part of the page, on stdout.)"""
    result = pipeline(["validate", "--line-items", str(bad_rows), "--format", "table"], "head -n 0")
    assert (result.returncode, result.stderr) == (65, "20,000 line items: 10,000 used, 10,000 rejected\n")
