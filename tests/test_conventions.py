"""Command-line conventions a new user expects (issue 14 item 5): --version, shell
completion, xsell's own one-line error for a mistyped command or option, help placeholders
that are words, and option names never cut at 80 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer.main

from crossell_cli import __version__
from crossell_cli.cli import app

from .conftest import REPO

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def xsell(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console script itself, so that messages name `xsell` as a user types it."""
    script = os.path.join(os.path.dirname(sys.executable), "xsell")
    return subprocess.run(
        [script, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "XSELL_CONFIG": "", **(env or {})},
        timeout=120,
    )


def test_version():
    for flag in ("--version", "-V"):
        result = xsell(flag)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"xsell {__version__}\n", "")


def test_an_unknown_command_is_one_line_with_the_suggestion():
    result = xsell("atach", "--data", "sample_data")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "Error: no command 'atach'. Did you mean 'attach'?\n  fix: 'xsell -h' lists the commands\n"


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["attach", "--bogus"], "Error: no such option: --bogus"),
        (["attach", "--min-base", "0"], "Error: invalid value for '--min-base': "),
        (["attach", "--level"], "Error: option '--level' requires an argument."),
        (["--nope", "attach"], "Error: no such option: --nope"),
    ],
)
def test_click_usage_errors_speak_like_xsell(args, first_line):
    """Not Click's 'Usage: … Try … ╭─ Error ─╮' panel: the same 'Error: …' and '  fix: …'
    lines as every other xsell error, and exit 2."""
    result = xsell(*args)
    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.splitlines()
    assert lines[0].startswith(first_line), result.stderr
    assert all(line.startswith("  fix: '") for line in lines[1:]) and len(lines) <= 2, result.stderr


def test_no_arguments_shows_the_help():
    result = xsell()
    assert result.returncode == 2 and "Usage: xsell" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_at_80_columns_has_words_for_placeholders_and_whole_option_names(command):
    args = ["--help"] if command is None else [command, "--help"]
    result = xsell(*args, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    types = re.findall(r"<(?:bool|int|float|str|path|list\[[a-z]+\])>|\[[\d.]*<?=?x<?=?[\d.]*\]", text)
    assert not types, f"Python types or ranges as placeholders: {types}"
    group = typer.main.get_command(app)
    params = group.params if command is None else group.commands[command].params  # type: ignore[attr-defined]
    for param in params:
        for name in (o for o in param.opts if o.startswith("--")):
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{name} is cut or missing:\n{text}"
    if command == "attach":
        assert re.search(r"--where\s+-w\s+COLUMN=VALUE ", text)
    if command == "retention":
        assert re.search(r"--window\s+DAYS ", text)
    if command == "flags":
        assert re.search(r"--min-base\s+N ≥ 1 ", text) and re.search(r"--forced-bundle-share\s+SHARE 0–1 ", text)


def test_shell_completion_is_installed_by_the_usual_options():
    result = xsell("--show-completion", env={"SHELL": "/bin/bash"})
    assert result.returncode == 0 and "_XSELL_COMPLETE=complete_bash" in result.stdout, result.stderr
    assert "--install-completion" in xsell("--help").stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("xsell at", ["attach"]),
        ("xsell attach --mat", ["--matrix"]),
        ("xsell timing --by c", ["cross_family", "cohort"]),
        ("xsell expansion --period ", ["month", "quarter", "year"]),
        ("xsell attach --format js", ["json", "jsonl"]),
        ("xsell flags --flag pr", ["premature", "price_erosion"]),
    ],
)
def test_completion_offers_commands_options_and_values(words, expected):
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = xsell(env={"COMP_WORDS": words, "COMP_CWORD": str(cword), "_XSELL_COMPLETE": "complete_bash"})
    assert (result.returncode, result.stdout.split()) == (0, expected)


def test_help_and_completion_do_not_import_polars():
    code = (
        "import sys\nfrom crossell_cli.cli import app\n"
        "for args in (['--help'], ['attach', '--help'], ['--show-completion']):\n"
        "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
        "assert 'polars' not in sys.modules, 'polars imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "SHELL": "/bin/bash"},
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", ["attach", "summary", "timing", "retention", "expansion", "flags", "validate"])
def test_a_command_loads_only_its_own_library(command):
    """`xsell attach` imports attach's command, not every command's: numpy and the whitespace
    model (choice.py) cost every run 0.1–0.15 s of start-up before a cell was read."""
    code = (
        "import sys\nfrom crossell_cli.cli import app\n"
        f"try:\n    app([{command!r}, '--data', 'sample_data', '-q', '-o', '-', '-f', 'csv'])\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "others = sorted(m for m in sys.modules if m.startswith('crossell_cli.commands.')"
        " and m.rsplit('.', 1)[1] not in ('answer', 'session', " + repr(command) + "))\n"
        "loaded = [m for m in ('numpy', 'scipy', 'crossell_cli.metrics.choice', 'crossell_cli.report') if m in sys.modules]\n"
        "print('LOADED', code, others, loaded, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.stderr.splitlines()[-1] == "LOADED 0 [] []"


@pytest.mark.parametrize(("given", "expected"), [(None, "False"), ("1", "True")])
def test_whitespace_runs_numpy_without_huge_page_advice_unless_asked(given, expected):
    """The console entry point turns NumPy's transparent-huge-page advice off before NumPy loads
    (synchronous compaction cost a cold whitespace run on Online Retail 1.5–2 s of kernel time);
    a value the user set in the environment wins."""
    code = (
        "import sys\nfrom crossell_cli import cli\n"
        "sys.argv = ['xsell', 'whitespace', '--data', 'sample_data', '-q', '-o', '-', '-f', 'csv', '--top', '1']\n"
        "try:\n    cli.main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "import numpy._core.multiarray as m\n"
        "print('EXIT', code, 'HUGEPAGES', m._get_madvise_hugepage(), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if given is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = given
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.stderr == f"EXIT 0 HUGEPAGES {expected}\n"
    assert proc.stdout.startswith("account_id,account_name,family,")
