"""Where the output goes when it is not a plain file: a full disk ends in exit 73 and a
message (it said "Internal error … a bug in xsell" and exited 70), and a symlink, a device or
a named pipe given to -o is written through, never replaced by a plain file (as root, `-o
/dev/stdout` used to put a file in place of /dev/stdout, and `-o /dev/full` one in place of
the device)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import REPO

FULL = Path("/dev/full")
ACCOUNT = "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"
needs_full = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this machine")


def xsell(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "crossell_cli", *args, "--data", "sample_data"],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "XSELL_CONFIG": ""},
        timeout=300,
    )


@needs_full
@pytest.mark.parametrize("args", [["attach", "-f", "csv"], ["whitespace", "-f", "csv", "--no-cache"]], ids=" ".join)
def test_a_full_disk_under_o_is_exit_73_and_the_device_stays(args):
    got = xsell(*args, "-o", str(FULL))
    assert got.returncode == 73
    assert got.stderr.decode() == "Error: cannot write /dev/full: No space left on device\n"
    assert stat.S_ISCHR(os.lstat(FULL).st_mode)


@needs_full
@pytest.mark.parametrize(
    "args",
    [
        ["attach", "-f", "csv"],
        ["whitespace", "-f", "csv", "--no-cache"],
        ["flags", "-f", "csv"],
        ["summary"],
        ["expansion"],
        ["timing"],
        ["retention"],
        ["validate"],
        ["backtest"],
        ["report", "-f", "html"],
        ["report", "-f", "xlsx"],
    ],
    ids=" ".join,
)
def test_stdout_on_a_full_disk_is_exit_73(args):
    """`xsell … > out` on a full disk: every command, whether its output streams (attach,
    whitespace, flags) or is written whole (the others said 'Internal error … a bug in xsell'
    and exited 70; the workbook also printed a traceback at exit)."""
    with FULL.open("wb") as full:
        got = xsell(*args, stdout=full.fileno())
    assert (got.returncode, got.stderr.decode()) == (73, "Error: cannot write stdout: No space left on device\n")


def test_o_through_a_symlink_writes_the_file_it_points_to(tmp_path):
    real = tmp_path / "real.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    got = xsell("attach", "-f", "csv", "-o", str(link))
    assert got.returncode == 0, got.stderr
    assert got.stderr.decode() == f"wrote {link}\n" + ACCOUNT
    assert link.is_symlink()
    assert real.read_text().startswith("base_family,target_family,")


def test_o_into_a_named_pipe_writes_into_the_pipe(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    got = xsell("whitespace", "-f", "csv", "--no-cache", "-o", str(fifo))
    reader.join(timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stderr.decode() == f"wrote {fifo}\n" + ACCOUNT
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and received[0].startswith(b"account_id,account_name,family,")
    assert received[0].count(b"\n") == 21_772


@pytest.mark.parametrize(
    ("error", "cannot_write"),
    [
        (OSError(28, "No space left on device"), True),  # Python's own, errno set
        (OSError("No space left on device (os error 28)"), True),  # a Polars writer's
        (OSError("[Errno 28] No space left on device"), True),  # a Python writer, through Polars
        (OSError("Read-only file system (os error 30)"), True),
        (OSError("No such file or directory (os error 2)"), False),  # an input gone: not the output's
        (OSError(2, "No such file or directory"), False),
        (OSError("something else"), False),
    ],
)
def test_only_a_full_or_read_only_disk_is_a_write_failure(error, cannot_write):
    from crossell_cli.cli import _cannot_write

    assert _cannot_write(error) is cannot_write
