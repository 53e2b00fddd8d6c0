"""The documentation is part of the product: every command documented, CI runs the README."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from crossell_cli.cli import app

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands() -> dict[str, object]:
    return {c.name or c.callback.__name__: c for c in app.registered_commands}  # type: ignore[union-attr]


def test_every_command_has_a_docstring_with_an_example():
    for name, command in _commands().items():
        doc = command.callback.__doc__ or ""  # type: ignore[attr-defined]
        assert doc.strip(), f"{name} has no docstring (its --help)"
        assert "Example:" in doc, f"{name}'s --help has no Example"
        assert f"xsell {name}" in doc, f"{name}'s example does not run it"


def test_every_command_is_in_the_readme():
    for name in _commands():
        assert f"`{name}`" in README, f"README does not document `{name}`"


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    test_command = next(line for block in blocks for line in block.splitlines() if "pytest" in line)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.strip() in ci.splitlines()


def test_the_test_command_installs_the_browser_the_report_test_needs():
    """The browser test fails without Chromium (it skips only where installing one is impossible),
    so the command CI runs installs it, and python3-venv, before anything else."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    test_command = next(line for block in blocks for line in block.splitlines() if "pytest" in line)
    assert test_command.startswith("sh .ci/system-packages && python3 -m venv .venv && ")


SYSTEM_PACKAGES = REPO / ".ci" / "system-packages"
FAKE_APT = """#!/bin/sh
echo "$*" >> "$APT_LOG"
case "$*" in
  *install*chromium*) [ -n "$APT_HAS_CHROMIUM" ] || exit 100
     printf '#!/bin/sh\n' > "$FAKE_BIN/chromium"; chmod +x "$FAKE_BIN/chromium" ;;
esac
"""


def run_system_packages(
    tmp_path: Path, *, uid: int, apt_has_chromium: bool = True, python: bool = True
) -> tuple[int, str, list[str]]:
    """.ci/system-packages in a copy of the repository, on a PATH with no browser, a fake `id`
    and a fake `apt-get` that logs its arguments (and "installs" chromium when it has one)."""
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(SYSTEM_PACKAGES, repo / ".ci" / "system-packages")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("rm", "mkdir", "dirname", "env", "chmod"):
        found = shutil.which(tool)
        assert found is not None, tool
        (fake_bin / tool).symlink_to(found)
    if python:
        (fake_bin / "python3").symlink_to(os.path.realpath(sys.executable))
    (fake_bin / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake_bin / "apt-get").write_text(FAKE_APT)
    for script in ("id", "apt-get"):
        (fake_bin / script).chmod(0o755)
    log = tmp_path / "apt.log"
    env = {
        "PATH": str(fake_bin),
        "APT_LOG": str(log),
        "FAKE_BIN": str(fake_bin),
        "APT_HAS_CHROMIUM": "1" if apt_has_chromium else "",
    }
    done = subprocess.run(
        ["/bin/sh", str(repo / ".ci" / "system-packages")], env=env, capture_output=True, text=True, check=False
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, done.stderr, calls


def test_as_root_a_missing_chromium_is_installed_with_apt(tmp_path: Path) -> None:
    code, _, calls = run_system_packages(tmp_path, uid=0)
    assert code == 0
    assert calls == ["update -q", "install -y -q chromium"]
    assert (tmp_path / "bin" / "chromium").is_file()
    assert not (tmp_path / "repo" / "tests" / "output" / "no-browser.txt").exists()


def test_without_root_the_browser_tests_are_told_why_they_skip(tmp_path: Path) -> None:
    code, stderr, calls = run_system_packages(tmp_path, uid=1000)
    assert code == 0 and calls == []  # python is there: the suite still runs
    note = tmp_path / "repo" / "tests" / "output" / "no-browser.txt"
    assert note.read_text() == "not root, and sudo is missing or asks for a password\n"
    assert "browser tests of xsell report will skip" in stderr and "apt-get install chromium" in stderr


def test_a_bare_machine_gets_python_and_venv_first(tmp_path: Path) -> None:
    code, stderr, calls = run_system_packages(tmp_path, uid=0, python=False)
    assert calls[:2] == ["update -q", "install -y -q python3 python3-venv"]
    assert code == 1 and "needs python3 3.11 or newer with venv" in stderr  # (the fake apt installs nothing)


def test_without_a_chromium_package_the_reason_is_written_down(tmp_path: Path) -> None:
    code, _, calls = run_system_packages(tmp_path, uid=0, apt_has_chromium=False)
    assert code == 0 and calls == ["update -q", "install -y -q chromium"]
    note = tmp_path / "repo" / "tests" / "output" / "no-browser.txt"
    assert "no 'chromium' package" in note.read_text()


def test_readme_lists_every_exit_code():
    from crossell_cli.errors import ExitCode

    for code in ExitCode:
        assert f"| {int(code)} |" in README, f"exit code {int(code)} missing from the README"


def test_runtime_dependencies_are_the_declared_ones():
    """Nothing in the package imports a module that is not a runtime dependency."""
    import sys
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ ]", dep)[0].lower().replace("-", "_") for dep in project["dependencies"]}
    allowed = declared | {"yaml", "typer", "rich", "polars"} | set(sys.stdlib_module_names)
    imported = set()
    for path in (REPO / "crossell_cli").rglob("*.py"):
        for match in re.finditer(r"^\s*(?:from|import)\s+([a-zA-Z_][\w]*)", path.read_text(), flags=re.M):
            imported.add(match.group(1))
    imported -= {"crossell_cli"}
    assert imported <= allowed, f"undeclared imports: {sorted(imported - allowed)}"
