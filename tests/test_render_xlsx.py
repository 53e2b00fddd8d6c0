"""XLSX for a spreadsheet person, read back with openpyxl: number formats, frozen header,
column widths, the "about" sheet, and text that can never run as a formula."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from crossell_cli import render

from .conftest import SAMPLE

RATE, MONEY, CENTS, COUNT, WHOLE_DAYS, DAYS, DATE = "0.0%", "#,##0", "#,##0.00", "0", "0", "0.0", "yyyy-mm-dd"


def _xlsx(cli: Any, tmp_path: Path, *args: str) -> Any:
    target = tmp_path / f"{args[0]}.xlsx"
    result = cli(*args, "--data", str(SAMPLE), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    return openpyxl.load_workbook(target)


def _formats(sheet: Any) -> dict[str, str]:
    """Column name -> the number format of its first data cell."""
    return {sheet.cell(1, c).value: sheet.cell(2, c).number_format for c in range(1, sheet.max_column + 1)}


def _width(sheet: Any, column: int) -> float | None:
    """The width set for a column (xlsx groups equal neighbours into one <col min max> range)."""
    for dim in sheet.column_dimensions.values():
        if dim.min is not None and dim.min <= column <= dim.max and dim.customWidth:
            return float(dim.width)
    return None


def _check_sheet(book: Any, title: str) -> Any:
    sheet = book["data"]
    assert sheet.freeze_panes == "A2", "the header row stays in view"
    for c in range(1, sheet.max_column + 1):
        width = _width(sheet, c)
        header = sheet.cell(1, c).value
        assert width is not None, f"{header}: no width set"
        assert len(header) <= width <= 70, f"{header}: width {width}"
    assert book["about"]["A1"].value == title
    return sheet


def test_attach(cli, tmp_path):
    sheet = _check_sheet(_xlsx(cli, tmp_path, "attach"), "Attach rates")
    formats = _formats(sheet)
    for rate in ("attach_rate", "ci_low", "ci_high", "target_rate", "cross_sell_attach"):
        assert formats[rate] == RATE, rate
    for count in ("base_accounts", "both_accounts", "target_accounts", "co_booked", "cross_sold_after", "before"):
        assert formats[count] == COUNT, count
    assert formats["lift"] == "0.00"
    assert isinstance(sheet["E2"].value, float | int) and 0 <= sheet["E2"].value <= 1  # the raw fraction


def test_expansion(cli, tmp_path):
    book = _xlsx(cli, tmp_path, "expansion")
    sheet = _check_sheet(book, "Expansion by quarter")
    formats = _formats(sheet)
    for money in ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn", "expansion"):
        assert formats[money] == MONEY, money
    # pass-through values run from 16 to 4,892: whole units like the rest, not 87.80
    assert formats["cross_sell_pass_through"] == MONEY
    assert formats["cross_sell_share"] == RATE
    assert formats["period_start"] == DATE
    assert sheet["B2"].value == dt.datetime(2022, 1, 1)
    assert [r[0].value for r in book["about"].iter_rows(min_row=2, max_row=2)] == [
        "settings: as of 2025-12-31 · level family · mode arr · period quarter"
    ]


def test_timing_days_and_counts_are_plain_numbers(cli, tmp_path):
    sheet = _check_sheet(_xlsx(cli, tmp_path, "timing"), "Time to cross-sell")
    formats = _formats(sheet)
    assert formats["median_days"] == WHOLE_DAYS  # 175.0
    assert formats["p75_days"] == DAYS  # 271.25
    assert formats["accounts_landed"] == COUNT
    assert formats["within_90d"] == formats["premature_early_churn_rate"] == RATE


def test_summary_rows_of_another_kind(cli, tmp_path):
    sheet = _check_sheet(_xlsx(cli, tmp_path, "summary"), "Cross-sell summary")
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert rows["cross_sell_rate"][1].number_format == RATE
    days = rows["median_days_to_cross_sell"]
    assert [c.number_format for c in days[1:4]] == [WHOLE_DAYS] * 3
    assert days[1].value == 230


def test_whitespace_by_family_mean_score_is_a_rate(cli, tmp_path):
    sheet = _check_sheet(_xlsx(cli, tmp_path, "whitespace", "--by", "family"), "Whitespace by family")
    formats = _formats(sheet)
    assert formats["mean_score"] == RATE
    assert formats["whitespace_value"] == MONEY
    assert formats["non_owners"] == COUNT


def test_small_money_keeps_cents_and_text_never_runs(tmp_path):
    frame = pl.DataFrame(
        {
            "note": ["=1+1", "+SUM(A1)", "-3", "@cmd", "\tx", "\rx", "\nx", "plain"],
            "list_amount": [12.5, 80.25, 3.0, 1.0, 2.0, 3.0, 4.0, -5.5],
            "amount": [1500.75, -20.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    target = tmp_path / "x.xlsx"
    output = render.Output(frame, "Injected", notes=("a note",), header="A-1 · Acme")
    render.emit(output, fmt=None, path=str(target), inputs=[])
    book = openpyxl.load_workbook(target)
    sheet = book["data"]
    formats = _formats(sheet)
    assert formats["list_amount"] == CENTS
    assert formats["amount"] == MONEY
    texts = [sheet.cell(r, 1) for r in range(2, 10)]
    # xlsx stores a CR as the escape _x000D_, which Excel reads back as CR (openpyxl does not)
    values = [c.value.replace("_x000D_", "\r") for c in texts]
    assert values == ["'=1+1", "'+SUM(A1)", "'-3", "'@cmd", "'\tx", "'\rx", "'\nx", "plain"]
    assert all(c.data_type == "s" for c in texts)
    assert sheet.cell(9, 2).value == -5.5 and sheet.cell(3, 3).value == -20  # numbers stay numbers
    assert [r[0].value for r in book["about"].iter_rows()] == ["Injected", "A-1 · Acme", "a note"]


def test_an_empty_result_still_writes_its_header(tmp_path):
    frame = pl.DataFrame(schema={"kpi": pl.String, "value": pl.Float64})
    target = tmp_path / "empty.xlsx"
    output = render.Output(frame, "Nothing", kinds={"value": "rate"}, row_kinds={"kpi": "days"})
    render.emit(output, fmt=None, path=str(target), inputs=[])
    sheet = openpyxl.load_workbook(target)["data"]
    assert [c.value for c in sheet[1]] == ["kpi", "value"]


def test_more_rows_than_a_sheet_holds_is_an_output_error(tmp_path):
    from crossell_cli.errors import OutputError

    frame = pl.DataFrame({"n": range(1_048_576)})
    target = tmp_path / "big.xlsx"
    with pytest.raises(OutputError, match="1,048,575 rows") as caught:
        render.emit(render.Output(frame, "Big"), fmt=None, path=str(target), inputs=[])
    assert caught.value.exit_code == 73
    assert not target.exists() and not list(tmp_path.iterdir())  # the temporary file is gone too


@pytest.mark.parametrize(
    ("command", "title", "expected"),
    [
        ("flags", "Flags", {"amount": MONEY, "list_amount": MONEY, "discount": RATE, "booked_at": DATE}),
        (
            "retention",
            "Retention by families owned",
            {"accounts": COUNT, "start_arr": MONEY, "end_arr": MONEY, "logo_retention": RATE, "grr": RATE, "nrr": RATE},
        ),
        ("validate", "Rejected rows and warnings", {"row": COUNT}),
        ("whitespace", "Whitespace", {"score": RATE, "expected_value": MONEY, "rank": COUNT}),
    ],
)
def test_every_other_command(cli, tmp_path, command, title, expected):
    """The rest of the commands: the same frozen header, widths and formats."""
    formats = _formats(_check_sheet(_xlsx(cli, tmp_path, command), title))
    assert {name: formats[name] for name in expected} == expected
