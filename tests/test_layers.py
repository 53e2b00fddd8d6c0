"""The code flows one way: cli → commands / report / render → metrics → model → ingest →
config / schema / errors / text. A module imports only from its own layer or a lower one,
so the design reads top-down and no import cycle can form (the README's "Code layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "crossell_cli"

# Highest first. A module's layer is its first path part (a package or a module).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "__main__"}),
    frozenset({"commands", "report", "render", "progress", "cache", "sample"}),
    frozenset({"metrics"}),
    frozenset({"model"}),
    frozenset({"ingest"}),
    frozenset({"config", "schema", "errors", "text", "profiles", "runs", "__init__"}),
)


def layer_of(part: str) -> int:
    for depth, names in enumerate(LAYERS):
        if part in names:
            return depth
    raise AssertionError(f"crossell_cli/{part} has no layer in tests/test_layers.py: add it to LAYERS")


def top_part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, first part under crossell_cli) of every import of our own code in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(PACKAGE).parent.parts  # () for a top-level module
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)]) if node.level - 1 <= len(package) else []
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    found.append((node.lineno, target[0]))
                else:  # from . import x (top level): x is a module, or a name the package defines
                    found.extend((node.lineno, _module_or_init(alias.name)) for alias in node.names)
            elif node.module and node.module.split(".")[0] == "crossell_cli":
                parts = node.module.split(".")[1:]
                if parts:
                    found.append((node.lineno, parts[0]))
                else:
                    found.extend((node.lineno, _module_or_init(alias.name)) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "crossell_cli" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
    return found


def _module_or_init(name: str) -> str:
    return name if (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir() else "__init__"


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    here = top_part(path)
    upward = [
        f"{path.relative_to(PACKAGE)}:{line} imports {part} (a higher layer)"
        for line, part in imported_parts(path)
        if part != here and layer_of(part) < layer_of(here)
    ]
    assert upward == []


def test_the_checker_reads_relative_and_absolute_imports(tmp_path: Path) -> None:
    module = PACKAGE / "metrics" / "__probe_for_test__.py"
    module.write_text(
        "from ..commands.session import Session\nfrom . import stats\nimport crossell_cli.cli\nfrom .. import __version__\n"
    )
    try:
        assert imported_parts(module) == [(1, "commands"), (2, "metrics"), (3, "cli"), (4, "__init__")]
    finally:
        module.unlink()
