"""report.xlsx read back with openpyxl: sheets, tables, number formats, frozen headers, charts, colour scale."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import zipfile
from dataclasses import replace
from pathlib import PurePosixPath

import openpyxl
import polars as pl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from crossell_cli.report import ReportData, write_xlsx
from tests.report.fixtures import bookings_report, empty_report, ravenstack_report, sample_report

SHEETS = [
    "Summary",
    "Attach",
    "Attach matrix",
    "Expansion",
    "Timing",
    "KM curve",
    "Retention",
    "Whitespace",
    "Whitespace by family",
    "Flags",
    "Flags by rep",
]
RATE, MONEY, COUNT, DAYS = "0.0%", "#,##0", "#,##0", "#,##0"


def workbook_bytes(data: ReportData) -> bytes:
    target = io.BytesIO()
    write_xlsx(data, target)
    return target.getvalue()


@pytest.fixture(scope="module")
def sample_bytes() -> bytes:
    return workbook_bytes(sample_report())


@pytest.fixture(scope="module")
def sample_book(sample_bytes: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(sample_bytes))


def column(sheet: Worksheet, name: str) -> int:
    """1-based index of the header ``name`` in row 1."""
    for cell in sheet[1]:
        if cell.value == name:
            return int(cell.column)
    raise AssertionError(f"no column {name!r} on {sheet.title}")


def formats(sheet: Worksheet, name: str) -> set[str]:
    col = column(sheet, name)
    return {
        str(sheet.cell(row=r, column=col).number_format)
        for r in range(2, sheet.max_row + 1)
        if sheet.cell(row=r, column=col).value is not None
    }


def test_sheets_in_order_with_the_summary_first(sample_book: openpyxl.Workbook) -> None:
    assert sample_book.sheetnames == SHEETS


def test_every_metric_sheet_is_an_excel_table_with_a_frozen_header(sample_book: openpyxl.Workbook) -> None:
    tables = {
        "Attach": ("attach", "A1:O91"),
        "Expansion": ("expansion", "A1:M17"),
        "Timing": ("timing", "A1:N7"),
        "KM curve": ("KMCurve", None),
        "Retention": ("retention", "A1:G5"),
        "Whitespace": ("whitespace", "A1:G21"),
        "Whitespace by family": ("whitespace_by_family", "A1:D9"),
        "Flags": ("flags", "A1:N151"),
        "Flags by rep": ("flags_by_rep", "A1:E21"),
    }
    for title, (name, ref) in tables.items():
        sheet = sample_book[title]
        assert list(sheet.tables) == [name], title
        if ref:
            assert sheet.tables[name].ref == ref, title
        assert sheet.freeze_panes == "A2", title
    assert set(sample_book["Summary"].tables) == {"KPIs", "Settings", "RowAccount"}


def test_rates_money_days_and_counts_have_their_number_formats(sample_book: openpyxl.Workbook) -> None:
    attach = sample_book["Attach"]
    for name in ("attach_rate", "ci_low", "ci_high", "target_rate", "cross_sell_attach"):
        assert formats(attach, name) == {RATE}, name
    for name in ("base_accounts", "both_accounts", "co_booked"):
        assert formats(attach, name) == {COUNT}, name
    assert formats(attach, "lift") == {"0.00"}
    expansion = sample_book["Expansion"]
    for name in ("new", "cross_sell", "churn", "contraction", "opening_arr", "closing_arr", "cross_sell_pass_through"):
        assert formats(expansion, name) == {MONEY}, name
    assert formats(expansion, "cross_sell_share") == {RATE}
    assert formats(expansion, "period_start") == {"yyyy-mm-dd"}
    timing = sample_book["Timing"]
    for name in ("median_days", "p25_days", "p90_days", "km_median_days"):
        assert formats(timing, name) == {DAYS}, name
    for name in ("within_90d", "within_365d", "premature_early_churn_rate"):
        assert formats(timing, name) == {RATE}, name
    retention = sample_book["Retention"]
    assert formats(retention, "start_arr") == {MONEY}
    assert {formats(retention, n).pop() for n in ("logo_retention", "grr", "nrr")} == {RATE}
    whitespace = sample_book["Whitespace"]
    assert formats(whitespace, "score") == {RATE} and formats(whitespace, "expected_value") == {MONEY}
    flags = sample_book["Flags"]
    assert formats(flags, "amount") == {MONEY} and formats(flags, "discount") == {RATE}
    assert formats(flags, "booked_at") == {"yyyy-mm-dd"}


def test_cells_hold_raw_numbers_not_text(sample_book: openpyxl.Workbook) -> None:
    expansion = sample_book["Expansion"]
    last = expansion.max_row
    assert expansion.cell(row=last, column=column(expansion, "churn")).value == pytest.approx(-3015294.4)
    assert expansion.cell(row=2, column=column(expansion, "cross_sell_share")).value is None  # empty, never 0
    attach = sample_book["Attach"]
    assert attach.cell(row=2, column=column(attach, "attach_rate")).value == 1.0


def test_summary_has_kpis_with_status_and_the_settings(sample_book: openpyxl.Workbook) -> None:
    summary = sample_book["Summary"]
    rows = {row[0]: row for row in summary.iter_rows(min_row=1, values_only=True) if row[0]}
    assert rows["cross_sell_rate"][2] == pytest.approx(0.3502454991816694)
    assert rows["cross_sell_rate"][5] == "above"
    assert rows["median_days_to_cross_sell"][5] == "within"
    # numeric settings are numbers a formula can read; dates, words and lengths with a unit are text
    assert rows["pass_through_discount"][1] == 0.9 and rows["min_base"][1] == 10 and rows["premature_days"][1] == 90
    assert rows["as_of"][1] == "2025-12-31" and rows["window"][1] == "365 days" and rows["where"][1] == "(none)"
    assert rows["line_items"][2] == 15965
    cells = {c.value: c for c in summary["A"] if c.value}
    value_row = cells["median_days_to_cross_sell"].row
    assert summary.cell(row=value_row, column=3).number_format == DAYS
    assert summary.cell(row=cells["cross_sell_rate"].row, column=3).number_format == RATE
    assert summary.cell(row=value_row, column=6).fill.fgColor.rgb.endswith("CCEBDF")  # within: green


def test_the_multi_product_rate_names_the_forced_bundle_it_counts(sample_book: openpyxl.Workbook) -> None:
    rows = {row[0]: row for row in sample_book["Summary"].iter_rows(values_only=True) if row[0]}
    assert rows["multi_product_rate"][6] == (
        "customers owning 2+ families; 3.09 families per customer. Forced bundles count here: Success Plan, "
        "sold on Core's deals in 95%+ of its lines (2,519 customers own both). Owning a forced bundle is no cross-sell "
        "(see Attach rates)"
    )
    assert rows["cross_sell_rate"][6] == "1,284 of 3,666 customers bought a new family in the last 365 days"


def test_null_status_is_an_empty_cell_as_in_the_csv() -> None:
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes(ravenstack_report())))
    rows = {row[0]: row for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert rows["cross_sell_win_rate"][5] is None
    assert rows["cross_sell_win_rate"][2] is None
    assert rows["cross_sell_rate"][5] == "n/a: one family in the book"


def test_attach_matrix_has_a_three_colour_scale(sample_book: openpyxl.Workbook) -> None:
    matrix = sample_book["Attach matrix"]
    assert [c.value for c in matrix[1]][:4] == ["base_family", "base_accounts", "Core", "Success Plan"]
    assert matrix.freeze_panes == "C2"
    rules = {str(r.sqref): r.rules for r in matrix.conditional_formatting}
    assert list(rules) == ["C2:L11"]
    kinds = [rule.type for rule in rules["C2:L11"]]
    assert kinds == ["expression", "colorScale"]
    scale = rules["C2:L11"][1].colorScale
    assert [v.type for v in scale.cfvo] == ["num", "num", "num"]
    assert len(scale.color) == 3
    # under min_base is greyed first and stops there
    grey = rules["C2:L11"][0]
    assert grey.formula == ["$B2<10"] and grey.stopIfTrue
    # Core row, Analytics column: 954 of 3,666
    header = [c.value for c in matrix[1]]
    core = next(r for r in range(2, 12) if matrix.cell(row=r, column=1).value == "Core")
    value = matrix.cell(row=core, column=header.index("Analytics") + 1)
    assert value.value == pytest.approx(0.2602291325695581) and value.number_format == RATE
    assert matrix.cell(row=core, column=header.index("Core") + 1).value is None  # the diagonal is empty


def _rels(archive: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Targets of a part's relationships, resolved to archive paths."""
    path = PurePosixPath(part)
    rels = path.parent / "_rels" / (path.name + ".rels")
    text = archive.read(str(rels)).decode()
    out = {}
    for rel_id, target in re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', text) + [
        (i, t) for t, i in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', text)
    ]:
        parts: list[str] = []
        for piece in (path.parent / target).parts:
            if piece == "..":
                parts.pop()
            else:
                parts.append(piece)
        out[rel_id] = "/".join(parts)
    return out


def test_native_charts_exist_and_hang_off_the_right_sheets(sample_bytes: bytes) -> None:
    archive = zipfile.ZipFile(io.BytesIO(sample_bytes))
    charts = sorted(n for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
    assert len(charts) == 2
    workbook_rels = _rels(archive, "xl/workbook.xml")
    sheet_ids = dict(
        re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="([^"]+)"', archive.read("xl/workbook.xml").decode())
    )
    charts_of: dict[str, set[str]] = {}
    for title, rel_id in sheet_ids.items():
        sheet_part = workbook_rels[rel_id]
        if (
            str(PurePosixPath(sheet_part).parent / "_rels" / (PurePosixPath(sheet_part).name + ".rels"))
            not in archive.namelist()
        ):
            continue
        for drawing in _rels(archive, sheet_part).values():
            if "drawings/" in drawing:
                charts_of.setdefault(title, set()).update(v for v in _rels(archive, drawing).values() if "charts/" in v)
    assert set(charts_of) == {"Expansion", "KM curve"}
    bridge = archive.read(charts_of["Expansion"].pop()).decode()
    assert '<c:grouping val="stacked"/>' in bridge and "<c:barChart>" in bridge
    assert "<c:lineChart>" in bridge  # closing ARR on the second axis
    assert bridge.count("<c:ser>") == 8  # seven movements + the ARR line
    assert "wdUpDiag" in bridge  # pass-through cross-sell is hatched
    curve = archive.read(charts_of["KM curve"].pop()).decode()
    assert "<c:scatterChart>" in curve and '<c:scatterStyle val="lineMarker"/>' in curve
    assert curve.count("<c:ser>") == 9  # all + five land families + the 90/180/365-day markers


def test_the_bridge_chart_leaves_out_a_pass_through_split_no_period_holds() -> None:
    def bridge_series(data: ReportData) -> list[str]:
        archive = zipfile.ZipFile(io.BytesIO(workbook_bytes(data)))
        parts = [archive.read(n).decode() for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        (bridge,) = [part for part in parts if '<c:grouping val="stacked"/>' in part]
        return re.findall(r"<c:ser>.*?<c:v>([^<]+)</c:v>", bridge)

    base = sample_report()
    assert "cross-sell at pass-through price (flagged)" in bridge_series(base)
    none = replace(base, expansion=base.expansion.with_columns(pl.lit(0.0).alias("cross_sell_pass_through")))
    assert bridge_series(none) == [
        "new (land)",
        "reactivation",
        "upsell",
        "cross-sell",
        "contraction",
        "churn",
        "ARR at period close (right axis)",
    ]


def test_km_chart_data_is_a_step_curve(sample_book: openpyxl.Workbook) -> None:
    sheet = sample_book["KM curve"]
    header = [c.value for c in sheet[1]]
    days_col = header.index("days (all)") + 1
    points = []
    for r in range(2, sheet.max_row + 1):
        x = sheet.cell(row=r, column=days_col).value
        if x is None:
            break
        points.append((x, sheet.cell(row=r, column=days_col + 1).value))
    assert points[0] == (0.0, 0.0)
    # every rise is vertical: a point at the same day as the one before, higher
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        assert x1 >= x0 and y1 >= y0
        assert x1 == x0 or y1 == y0
    km = sample_report().km_curve.filter(pl.col("group") == "all")
    assert points[-1] == (km.get_column("days").max(), pytest.approx(1 - km.get_column("survival").min()))


def test_km_chart_marks_90_180_and_365_days_as_the_page_does(sample_book: openpyxl.Workbook) -> None:
    """Three dashed vertical lines from 0 to 100% at days 90, 180 and 365, labelled at the top
    and kept out of the legend, whose entries stay the curves'."""
    sheet = sample_book["KM curve"]
    header = [c.value for c in sheet[1]]
    col = header.index("marker day") + 1
    cells = [(sheet.cell(row=r, column=col).value, sheet.cell(row=r, column=col + 1).value) for r in range(2, 8)]
    assert cells == [(90, 0), (90, 1), (180, 0), (180, 1), (365, 0), (365, 1)]
    assert sheet.cell(row=8, column=col).value is None
    archive = zipfile.ZipFile(io.BytesIO(workbook_bytes(sample_report())))
    curve = archive.read("xl/charts/chart2.xml").decode()
    names = re.findall(r"<c:ser>.*?<c:v>([^<]*)</c:v>", curve, re.S)
    assert names[-3:] == ["90 days", "180 days", "365 days"]
    assert curve.count('<a:prstDash val="dash"/>') == 3
    assert re.findall(r'<c:legendEntry><c:idx val="(\d+)"/><c:delete val="1"/>', curve) == ["6", "7", "8"]
    for day in (90, 180, 365):
        assert f"<a:t>{day} days</a:t>" in curve
    # the chart sits right of every column it reads, never over the markers' cells
    drawings = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/drawings/drawing")]
    anchors = [int(a) for d in drawings for a in re.findall(r"<xdr:from><xdr:col>(\d+)</xdr:col>", d)]
    assert header.index("marker height") < max(anchors)


def test_km_chart_leaves_out_markers_past_the_last_day() -> None:
    short = sample_report().km_curve.filter(pl.col("days") <= 120)
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes(replace(sample_report(), km_curve=short))))
    header = [c.value for c in book["KM curve"][1]]
    col = header.index("marker day") + 1
    assert [book["KM curve"].cell(row=r, column=col).value for r in range(2, 5)] == [90, 90, None]


def test_bookings_mode_charts_no_losses_and_explains_retention() -> None:
    written = workbook_bytes(bookings_report())
    bridge = zipfile.ZipFile(io.BytesIO(written)).read("xl/charts/chart1.xml").decode()
    assert bridge.count("<c:ser>") == 4 and "<c:lineChart>" not in bridge
    book = openpyxl.load_workbook(io.BytesIO(written))
    assert book["Retention"]["A1"].value.startswith("Retention needs end dates")
    assert not book["Retention"].tables


def test_text_that_looks_like_a_formula_is_defused() -> None:
    data = sample_report()
    hostile = data.whitespace_top.head(7).with_columns(
        pl.Series("account_name", ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "\nx"])
    )
    flags = data.flags.with_columns(pl.lit("=1+1").alias("detail"))
    book = openpyxl.load_workbook(
        io.BytesIO(workbook_bytes(replace(data, whitespace_top=hostile, flags=flags, title="=cmd|' /C calc'!A0")))
    )
    sheet = book["Whitespace"]
    # OOXML stores a carriage return as _x000D_, which Excel decodes and openpyxl leaves as is
    names = [
        sheet.cell(row=r, column=column(sheet, "account_name")).value.replace("_x000D_", "\r") for r in range(2, 9)
    ]
    assert names == ['\'=HYPERLINK("http://x","y")', "'+1+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "'\nx"]
    assert all(sheet.cell(row=r, column=column(sheet, "account_name")).data_type == "s" for r in range(2, 9))
    assert book["Flags"]["N2"].value == "'=1+1"
    assert book["Summary"]["A1"].value.startswith("'=cmd")
    # numbers stay numbers, negatives included
    churn = book["Expansion"].cell(row=17, column=column(book["Expansion"], "churn"))
    assert churn.data_type == "n" and churn.value < 0


def test_an_empty_book_writes_every_sheet_with_a_reason() -> None:
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes(empty_report())))
    assert book.sheetnames == SHEETS
    for title in SHEETS[1:]:
        sheet = book[title]
        assert not sheet.tables, title
        texts = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
        assert any(len(t) > 20 for t in texts), title  # a sentence, not just headers
        if sheet.max_column > 1:  # under a header row nothing: the sentence is beside it, not a data row
            assert [c.value for c in sheet[2]] == [None] * len(sheet[2]), title


def test_columns_are_wide_enough_to_read(sample_book: openpyxl.Workbook) -> None:
    flags = sample_book["Flags"]
    assert flags.column_dimensions["N"].width >= 60  # detail
    assert 10 <= flags.column_dimensions["A"].width <= 24  # flag


def test_the_same_data_gives_the_same_bytes(sample_bytes: bytes) -> None:
    assert workbook_bytes(sample_report()) == sample_bytes


def test_writes_to_a_pipe_and_leaves_the_target_open() -> None:
    """`-o -` hands over stdout: not seekable, and the command, not the renderer, closes it."""

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.received = bytearray()

        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def write(self, chunk: bytes) -> int:  # type: ignore[override]
            self.received += chunk
            return len(chunk)

    pipe = Pipe()
    stream = io.BufferedWriter(pipe)
    write_xlsx(ravenstack_report(), stream)
    stream.flush()
    assert not stream.closed
    assert openpyxl.load_workbook(io.BytesIO(bytes(pipe.received))).sheetnames == SHEETS


def test_a_very_long_pair_list_keeps_the_pairs_with_a_real_base(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ATTACH_ROWS pairs (8.3 M on Online Retail at product level) the sheet keeps the first of
    the pairs whose base has min_base customers, and says how many there are in all."""
    import crossell_cli.report.xlsx as xlsx

    monkeypatch.setattr(xlsx, "ATTACH_ROWS", 30)
    data = replace(sample_report(), min_base=500)
    visible = data.attach.filter(pl.col("base_accounts") >= 500)
    assert data.attach.height > 30 and visible.height > 30
    sheet = openpyxl.load_workbook(io.BytesIO(workbook_bytes(data)))["Attach"]
    assert sheet.tables["attach"].ref == "A1:O31"
    bases = [sheet.cell(row=r, column=column(sheet, "base_accounts")).value for r in range(2, 32)]
    assert min(bases) >= 500
    note = sheet.cell(row=1, column=17).value
    assert note.startswith(f"The first 30 of the {visible.height} pairs whose base has 500+ customers")
    assert f"({data.attach.height} pairs in all)" in note


def test_a_last_period_cut_short_is_said_above_the_bridge_chart() -> None:
    def texts(data: ReportData) -> list[str]:
        sheet = openpyxl.load_workbook(io.BytesIO(workbook_bytes(data)))["Expansion"]
        return [str(c.value) for c in sheet["A"] if isinstance(c.value, str) and "partial" in c.value]

    assert texts(sample_report()) == []
    cut = replace(sample_report(), as_of=dt.date(2025, 11, 15))
    assert texts(cut) == [
        "2025-Q4 is partial: it closes on the as-of date, 2025-11-15, not on its last day (2025-12-31), so its "
        "bars hold 46 of its 92 days."
    ]
    both = replace(cut, first_day=dt.date(2022, 2, 14))
    assert texts(both) == [
        "2022-Q1 is partial: the book's first line in it is dated 2022-02-14, so its bars hold 46 of its 90 days. "
        "2025-Q4 is partial: it closes on the as-of date, 2025-11-15, not on its last day (2025-12-31), so its "
        "bars hold 46 of its 92 days."
    ]


def test_bookings_bridge_chart_title_has_no_losses() -> None:
    archive = zipfile.ZipFile(io.BytesIO(workbook_bytes(bookings_report())))
    charts = [archive.read(n).decode() for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
    bridge = next(c for c in charts if "<c:barChart>" in c)
    assert "<a:t>Won bookings by period: new, cross-sell and upsell (bookings mode shows no losses)</a:t>" in bridge
    # bookings mode takes amounts as exported: its axis claims no annualising
    assert "<a:t>Won bookings</a:t>" in bridge and "annualised" not in bridge


def test_the_matrix_note_names_the_attach_sheet_only_when_it_holds_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matrix cut to its most-owned items points to where every pair is: the Attach sheet when
    it holds them all, else `xsell attach --all` (Online Retail: 8.3 M pairs, 100 000 on the sheet)."""
    import crossell_cli.report.xlsx as xlsx

    monkeypatch.setattr(xlsx, "MATRIX_MAX", 4)

    def notes(data: ReportData) -> list[str]:
        sheet = openpyxl.load_workbook(io.BytesIO(workbook_bytes(data)))["Attach matrix"]
        return [str(c.value) for c in sheet["A"] if isinstance(c.value, str) and c.value.startswith("Top ")]

    data = sample_report()
    assert notes(data) == ["Top 4 of 10 bases and 4 of 10 targets by customers; every pair is on the Attach sheet."]
    monkeypatch.setattr(xlsx, "ATTACH_ROWS", 30)
    assert notes(data) == [
        "Top 4 of 10 bases and 4 of 10 targets by customers; the Attach sheet holds the first pairs by attach "
        "rate; xsell attach --all -o attach.parquet has every pair."
    ]


def test_the_title_rows_name_a_where_filter() -> None:
    """KPIs of one segment must not read as the whole book's: the second title row names --where."""
    data = sample_report()
    settings = tuple((n, "segment=Enterprise" if n == "where" else v) for n, v in data.settings)
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes(replace(data, settings=settings))))
    assert book["Summary"]["A2"].value == (
        "As of 2025-12-31 · family level · arr mode · min base 10 · only accounts where segment=Enterprise · "
        "xsell 0.1.0"
    )
    plain = openpyxl.load_workbook(io.BytesIO(workbook_bytes(data)))
    assert plain["Summary"]["A2"].value == "As of 2025-12-31 · family level · arr mode · min base 10 · xsell 0.1.0"
