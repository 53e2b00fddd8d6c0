"""Shared helpers: tiny books as frames, CSV files in tmp folders, the CLI in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from crossell_cli.cli import app
from crossell_cli.commands.session import configure_polars
from crossell_cli.ingest import ACCOUNT_DTYPES, COUNTS_SCHEMA, ISSUE_SCHEMA, LINE_ITEM_DTYPES, PRODUCT_DTYPES, Book

configure_polars()

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
REALDATA = REPO.parent / "shared" / "realdata"


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def book_from_rows(
    lines: Sequence[Mapping[str, Any]],
    products: Sequence[Mapping[str, Any]] = (),
    accounts: Sequence[Mapping[str, Any]] = (),
    *,
    present: Iterable[str] = (),
) -> Book:
    """A Book built directly from dicts (defaults as the loader would fill them)."""
    rows = []
    for i, line in enumerate(lines, start=1):
        row: dict[str, Any] = {name: None for name in LINE_ITEM_DTYPES}
        row.update(line)
        for key in ("booked_at", "start_date", "end_date"):
            if isinstance(row[key], str):
                row[key] = d(row[key])
        row["start_date"] = row["start_date"] or row["booked_at"]
        row["line_id"] = row["line_id"] or str(i)
        row["quantity"] = 1.0 if row["quantity"] is None else row["quantity"]
        row["amount"] = 0.0 if row["amount"] is None else float(row["amount"])
        row["_row"] = i
        rows.append(row)
    schema = {**LINE_ITEM_DTYPES, "_row": pl.UInt32()}
    line_items = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    product_rows = [{n: p.get(n) for n in PRODUCT_DTYPES} for p in products]
    seen = set()
    for p in product_rows:
        p["family"] = p["family"] or p["product_id"]
        p["sellable"] = True if p["sellable"] is None else p["sellable"]
        seen.add(p["product_id"])
    if not products:  # like the loader without a products file: one family per product seen
        for pid in sorted({r["product_id"] for r in rows} - seen):
            product_rows.append(
                {"product_id": pid, "product_name": None, "family": pid, "list_price": None, "sellable": True}
            )
    products_frame = pl.DataFrame(product_rows, schema=PRODUCT_DTYPES)
    account_rows = [{n: a.get(n) for n in ACCOUNT_DTYPES} for a in accounts]
    known = {a["account_id"] for a in account_rows}
    for aid in sorted({r["account_id"] for r in rows} - known):
        account_rows.append({"account_id": aid})
    accounts_frame = pl.DataFrame([{n: a.get(n) for n in ACCOUNT_DTYPES} for a in account_rows], schema=ACCOUNT_DTYPES)
    cols = set(present) or {k for line in lines for k in line}
    given = {"line_items"} | ({"products"} if products else set()) | ({"accounts"} if accounts else set())
    counts = pl.DataFrame(
        [
            {
                "table": "line_items",
                "rows": len(rows),
                "used": len(rows),
                "rejected": 0,
                "excluded": 0,
                "blank_lines": 0,
                "footer_lines": 0,
                "header_lines": 0,
                "open": 0,
            }
        ],
        schema=COUNTS_SCHEMA,
    )
    return Book(
        line_items=line_items.lazy(),
        accounts=accounts_frame.lazy(),
        products=products_frame.lazy(),
        issues=pl.LazyFrame(schema=ISSUE_SCHEMA),
        counts=counts.lazy(),
        sources={},
        present=frozenset(cols),
        given=frozenset(given),
        account_columns=tuple(ACCOUNT_DTYPES),
    )


@dataclass
class Invocation:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Invocation:
    runner = CliRunner()
    import os

    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = runner.invoke(app, list(args), env=dict(env or {}), catch_exceptions=False)
    finally:
        os.chdir(old)
    return Invocation(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Invocation]:
    """Run xsell in-process from an empty folder (so no stray xsell.yaml is picked up)."""

    def run(*args: str, env: Mapping[str, str] | None = None) -> Invocation:
        return invoke(args, env={"XSELL_CONFIG": "", **(env or {})}, cwd=tmp_path)

    return run


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """write('line_items.csv', 'a,b\\n1,2\\n') -> the path, in a fresh folder."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


def realdata(name: str) -> Path:
    path = REALDATA / name
    if not path.exists():
        pytest.skip(f"{path} is not present (the shared real datasets live beside the repo)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _fit_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Whitespace fits go to a folder of this test session, never the user's cache."""
    import os

    os.environ["XSELL_CACHE_DIR"] = str(tmp_path_factory.mktemp("xsell-cache"))
