"""The documentation is part of the product: every command documented, CI runs the README."""

from __future__ import annotations

import re

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
    """The browser test fails without Chromium (never skips), so the command CI runs installs it."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    test_command = next(line for block in blocks for line in block.splitlines() if "pytest" in line)
    assert test_command.startswith("command -v chromium >/dev/null || {")
    assert "apt-get install -y -q chromium" in test_command


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
