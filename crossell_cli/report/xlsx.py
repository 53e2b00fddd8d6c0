"""``xsell report -o report.xlsx``: every metric as an Excel table, with native charts.

The workbook is for the analyst who keeps working on the numbers: cells hold raw
values (rates as fractions, money unrounded) and Excel number formats make them read
as percent, whole currency units and days. Column names are the stable snake_case
names of the CSV output, so a pivot built on one export works on the next. Text that
a spreadsheet would run as a formula gets a leading apostrophe (SPEC §3, OWASP).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import IO, Any

import polars as pl

from . import fmt
from .charts import KM_MARKERS
from .data import ReportData, matrix_axis
from .html import CURVES_MAX, KPI_LABELS, NO_RETENTION, drawn_movements
from .svg import BLACK, CATEGORICAL

MATRIX_MAX = 250  # bases and targets in the attach matrix sheet (the pairs themselves: the "Attach" sheet)
EXCEL_ROWS = 1_048_576  # a worksheet's hard limit, header included
ATTACH_ROWS = 100_000  # pairs on the Attach sheet past which only bases of min_base+ customers are kept
_NO_DATE = dt.date(2000, 1, 1)  # the creation stamp of a workbook without an as-of date (fixed: same bytes)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER_FORMATS: dict[str, str] = {
    "rate": "0.0%",
    "money": "#,##0",
    "count": "#,##0",
    "days": "#,##0",
    "ratio": "0.00",
    "number": "#,##0.00",
    "date": "yyyy-mm-dd",
}
_WIDTH_MAX = {"text": 70}
_STATUS_FILL = {"within": "#CCEBDF", "below": "#FBE3C2", "above": "#FBE3C2"}

# Excel's colour scale for the attach matrix: a single-hue blue ramp, so order reads
# without colour vision, and black text stays legible on every cell.
_SCALE_LOW, _SCALE_MID, _SCALE_HIGH = "#FFFFFF", "#9ECAE1", "#3182BD"


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe_text(value: str) -> str:
    """A leading apostrophe on text a spreadsheet would run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_xlsx(data: ReportData, target: IO[bytes]) -> None:
    """Write the report workbook to ``target`` (a binary file object)."""
    import xlsxwriter  # only when a workbook is written: `xsell --help` never pays for it

    workbook = xlsxwriter.Workbook(
        target,
        {
            "in_memory": True,
            # Every cell is written with an explicit type below; nothing is guessed from text.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    # A fixed creation stamp: the same data gives the same workbook bytes.
    workbook.set_properties(
        {
            "title": data.title,
            "comments": f"xsell {data.version}, {data.as_of_text}",
            "created": dt.datetime.combine(data.as_of or _NO_DATE, dt.time()),
        }
    )
    book = _Book(workbook)
    _summary(book, data)
    attach, note = _attach_rows(data)
    _sheet_table(book, "Attach", "attach", attach, _why_attach(data), note=note)
    _attach_matrix(book, data)
    expansion_sheet = _sheet_table(
        book, "Expansion", "expansion", data.expansion, "No won line on or before the as-of date: nothing to classify."
    )
    if expansion_sheet is not None:
        _expansion_chart(book, expansion_sheet, data)
    _sheet_table(book, "Timing", "timing", data.timing, "No landed account to follow.")
    _km_sheet(book, data)
    if data.retention is None:
        _message_sheet(book, "Retention", NO_RETENTION)
    else:
        _sheet_table(book, "Retention", "retention", data.retention, "No account had ARR at the window start.")
    left_out = dict(data.omitted).get("whitespace")
    _sheet_table(book, "Whitespace", "whitespace", data.whitespace_top, left_out or data.no_whitespace_text)
    _sheet_table(
        book,
        "Whitespace by family",
        "whitespace_by_family",
        data.whitespace_by_family,
        left_out or "No whitespace candidates.",
    )
    _sheet_table(book, "Flags", "flags", data.flags, "No findings: none of the checks fired on this book.")
    _sheet_table(book, "Flags by rep", "flags_by_rep", data.flags_by_rep, "No rep has a cross-sell.")
    workbook.close()


class _Book:
    """The workbook and its formats, made once (Excel caps the number of formats)."""

    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.header = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "bottom": 1})
        self.title = workbook.add_format({"bold": True, "font_size": 16})
        self.subtitle = workbook.add_format({"italic": True, "font_color": "#555555"})
        self.bold = workbook.add_format({"bold": True})
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.formats = {kind: workbook.add_format({"num_format": code}) for kind, code in _NUMBER_FORMATS.items()}
        self.status = {name: workbook.add_format({"bg_color": colour}) for name, colour in _STATUS_FILL.items()}
        self.grey = workbook.add_format({"bg_color": "#D9D9D9", "font_color": "#555555", "num_format": "0.0%"})
        self.forced = workbook.add_format({"num_format": "0.0%", "bold": True, "border": 2, "border_color": BLACK})


def _kind(frame: pl.DataFrame, name: str) -> fmt.Kind:
    kind = fmt.column_kind(name)
    dtype = frame.schema[name]
    if kind == "text" and dtype.is_numeric():
        return "number"
    if kind != "text" and dtype == pl.String:
        return "text"  # a text column whose name looks numeric (never seen, but never a crash)
    return kind


def _write(book: _Book, sheet: Any, row: int, col: int, value: object, kind: fmt.Kind) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number):  # Excel has no NaN or infinity: an empty cell says "no value"
            sheet.write_number(row, col, number, book.formats.get(kind))
    elif isinstance(value, dt.datetime | dt.date):
        sheet.write_datetime(row, col, value, book.formats["date"])
    else:
        sheet.write_string(row, col, safe_text(str(value)))


def _width(header: str, values: Sequence[object], kind: fmt.Kind) -> float:
    shown = [fmt.cell(v, kind) for v in values[:500]]
    widest = max([len(header), *(len(s) for s in shown)])
    return float(min(widest + 2, _WIDTH_MAX.get(kind, 24) if kind == "text" else 24))


def _table(book: _Book, sheet: Any, frame: pl.DataFrame, first_row: int, name: str) -> int:
    """``frame`` as an Excel table with its top-left at (first_row, 0); returns the next free row."""
    columns = frame.columns
    kinds = [_kind(frame, c) for c in columns]
    for col, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        values = frame.get_column(column).to_list()
        for offset, value in enumerate(values, start=1):
            _write(book, sheet, first_row + offset, col, value, kind)
        sheet.set_column(col, col, _width(column, values, kind))
    sheet.add_table(
        first_row,
        0,
        first_row + frame.height,
        len(columns) - 1,
        {
            "name": name,
            "style": "Table Style Light 9",
            "columns": [
                {"header": safe_text(c), "format": book.formats.get(k)} for c, k in zip(columns, kinds, strict=True)
            ],
        },
    )
    return first_row + frame.height + 1


def _attach_rows(data: ReportData) -> tuple[pl.DataFrame, str | None]:
    """The Attach sheet's pairs: all of them, unless there are more than ATTACH_ROWS (a wide
    catalogue at product level: 8.3 M pairs on Online Retail, which took minutes and 70 MB to
    write); then the first ATTACH_ROWS of the pairs whose base has min_base customers, and a
    note saying so."""
    attach = data.attach
    if attach.height <= ATTACH_ROWS:
        return attach, None
    visible = attach.filter(pl.col("base_accounts") >= data.min_base)
    shown = visible.head(ATTACH_ROWS)
    return shown, (
        f"The first {shown.height:,} of the {visible.height:,} pairs whose base has {data.min_base:,}+ customers, "
        f"by attach rate ({attach.height:,} pairs in all). xsell attach --all -o attach.parquet has every pair."
    )


def _sheet_table(
    book: _Book, title: str, name: str, frame: pl.DataFrame, why_empty: str, *, note: str | None = None
) -> Any | None:
    """One metric on its own sheet: an Excel table with a frozen header, or a sentence."""
    if frame.is_empty():
        _message_sheet(book, title, why_empty, frame.columns)
        return None
    sheet = book.workbook.add_worksheet(title)
    rows = frame.height
    if rows > EXCEL_ROWS - 1:  # a result past Excel's limit (flags of a huge book)
        frame = frame.head(EXCEL_ROWS - 1)
        note = f"First {frame.height:,} of {rows:,} rows: Excel holds no more. Use --format csv or parquet."
    if note:
        sheet.write_string(0, frame.width + 1, note)
    _table(book, sheet, frame, 0, name)
    sheet.freeze_panes(1, 0)
    return sheet


def _message_sheet(book: _Book, title: str, message: str, columns: Sequence[str] = ()) -> None:
    sheet = book.workbook.add_worksheet(title)
    for col, column in enumerate(columns):
        sheet.write_string(0, col, safe_text(column), book.header)
        sheet.set_column(col, col, max(len(column) + 2, 10))
    # Beside the header, as a table's note is: under it, a filter or a pivot read it as a row.
    sheet.write_string(0, len(columns) + 1 if columns else 0, safe_text(message))
    if columns:
        sheet.freeze_panes(1, 0)


def _why_attach(data: ReportData) -> str:
    items = "families" if data.level == "family" else f"{data.level}s"
    return f"No pair of {items}: the customers own fewer than two distinct {items}."


def _summary(book: _Book, data: ReportData) -> None:
    sheet = book.workbook.add_worksheet("Summary")
    sheet.write_string(0, 0, safe_text(data.title), book.title)
    sheet.write_string(
        1,
        0,
        safe_text(
            " · ".join(
                [
                    data.as_of_text.capitalize(),
                    f"{data.level} level",
                    data.mode_text,
                    f"min base {data.min_base:,}",
                    *data.where_parts,
                    f"xsell {data.version}",
                ]
            )
        ),
        book.subtitle,
    )
    row = 3
    summary = data.summary
    sheet.write_string(row, 0, "Headline KPIs", book.bold)
    row += 1
    if summary.is_empty():
        sheet.write_string(row, 0, "No headline KPIs were computed for this book.")
        row += 2
    else:
        columns = ["kpi", "label", "value", "good_low", "good_high", "status", "detail"]
        records = summary.to_dicts()
        for offset, record in enumerate(records, start=1):
            kpi = str(record.get("kpi") or "")
            kind: fmt.Kind = "days" if "days" in kpi else "rate"
            status = record.get("status")
            cells: list[tuple[object, fmt.Kind]] = [
                (kpi, "text"),
                (KPI_LABELS.get(kpi, kpi.replace("_", " ").capitalize()), "text"),
                (record.get("value"), kind),
                (record.get("good_low"), kind),
                (record.get("good_high"), kind),
                # (the CSV's raw value: no status is an empty cell; the page says "n/a" to people)
                (status, "text"),
                (None if record.get("detail") is None else data.kpi_detail(kpi, str(record["detail"])), "text"),
            ]
            for col, (value, cell_kind) in enumerate(cells):
                _write(book, sheet, row + offset, col, value, cell_kind)
            if isinstance(status, str) and status in book.status:
                sheet.write_string(row + offset, 5, status, book.status[status])
        sheet.add_table(
            row,
            0,
            row + len(records),
            len(columns) - 1,
            {"name": "KPIs", "style": "Table Style Light 9", "columns": [{"header": c} for c in columns]},
        )
        row += len(records) + 2
    sheet.write_string(row, 0, "Settings", book.bold)
    row += 1
    settings = pl.DataFrame(
        {"setting": [n for n, _ in data.settings], "value": [v for _, v in data.settings]},
        schema={"setting": pl.String, "value": pl.String},
    )
    if settings.is_empty():
        sheet.write_string(row, 0, "No settings recorded.")
        row += 2
    else:
        first = row + 1
        row = _table(book, sheet, settings, row, "Settings") + 1
        # A number stays a number (min_base 10, pass_through_discount 0.9), so a formula can
        # read it; a date, a word or a length with its unit ("365 days") stays text.
        for offset, (_, value) in enumerate(data.settings):
            if _NUMBER.fullmatch(value):
                sheet.write_number(first + offset, 1, float(value))
    sheet.write_string(row, 0, "Row account", book.bold)
    row += 1
    if data.row_account.is_empty():
        sheet.write_string(row, 0, "No input rows were accounted for.")
        row += 2
    else:
        row = _table(book, sheet, data.row_account, row, "RowAccount") + 1
    for note in data.notes:
        sheet.write_string(row, 0, safe_text(note))
        row += 1
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, 5, 14)
    sheet.set_column(6, 6, 80)


def _attach_matrix(book: _Book, data: ReportData) -> None:
    attach = data.attach
    if attach.is_empty():
        _message_sheet(book, "Attach matrix", _why_attach(data))
        return
    # (the grid of `xsell attach --matrix --all`: every item a row and a column, zeros included)
    axis = matrix_axis(data.attach_items)
    customers = dict(data.attach_items.select("item", "customers").iter_rows())
    columns = axis[:MATRIX_MAX]
    rows = [{"base_family": name, "customers": customers[name]} for name in columns]
    row_of = col_of = {name: i for i, name in enumerate(columns)}
    sheet = book.workbook.add_worksheet("Attach matrix")
    sheet.write_string(0, 0, "base_family", book.header)
    sheet.write_string(0, 1, "base_accounts", book.header)
    for index, name in enumerate(columns):
        sheet.write_string(0, index + 2, safe_text(name), book.header)
    for index, record in enumerate(rows):
        sheet.write_string(index + 1, 0, safe_text(str(record["base_family"])), book.bold)
        _write(book, sheet, index + 1, 1, record["customers"], "count")
    for record in data.attach_matrix.iter_rows(named=True):
        r = row_of.get(str(record["base_family"]))
        c = col_of.get(str(record["target_family"]))
        rate = record.get("attach_rate")
        if r is None or c is None or not isinstance(rate, int | float) or not math.isfinite(rate):
            continue
        if (record.get("base_accounts") or 0) < data.min_base:
            cell_format = book.grey
        elif record.get("flag") == "forced_bundle":
            cell_format = book.forced
        else:
            cell_format = book.formats["rate"]
        sheet.write_number(r + 1, c + 2, float(rate), cell_format)
    last_row, last_col = len(rows), len(columns) + 1
    # Grey first and stop there: a base under min_base is shown but not coloured as evidence.
    sheet.conditional_format(
        1,
        2,
        last_row,
        last_col,
        {
            "type": "formula",
            "criteria": f"=$B2<{data.min_base}",
            "format": book.grey,
            "stop_if_true": True,
        },
    )
    sheet.conditional_format(
        1,
        2,
        last_row,
        last_col,
        {
            "type": "3_color_scale",
            "min_type": "num",
            "min_value": 0,
            "min_color": _SCALE_LOW,
            "mid_type": "num",
            "mid_value": 0.5,
            "mid_color": _SCALE_MID,
            "max_type": "num",
            "max_value": 1,
            "max_color": _SCALE_HIGH,
        },
    )
    sheet.freeze_panes(1, 2)
    sheet.set_column(0, 0, max([len("base_family"), *(len(str(r["base_family"])) for r in rows)]) + 2)
    sheet.set_column(1, 1, 14)
    sheet.set_column(2, last_col, 12)
    note_row = last_row + 2
    notes = [
        f"Cell = attach rate: share of the row's customers who also own the column's {data.level}.",
        f"Grey: base under min_base ({data.min_base} customers), shown but not reported by xsell attach. "
        "Thick border: forced bundle (bundling, not selling).",
    ]
    if len(axis) > len(columns):
        notes.append(
            f"Top {len(rows)} of {len(axis):,} bases and {len(columns)} of {len(axis):,} targets by customers; "
            + (
                "every pair is on the Attach sheet."
                if data.attach.height <= ATTACH_ROWS
                else "the Attach sheet holds the first pairs by attach rate; xsell attach --all -o attach.parquet "
                "has every pair."
            )
        )
    for offset, note in enumerate(notes):
        sheet.write_string(note_row + offset, 0, note)


def _expansion_chart(book: _Book, sheet: Any, data: ReportData) -> None:
    expansion = data.expansion
    columns = expansion.columns
    last = expansion.height
    chart = book.workbook.add_chart({"type": "column", "subtype": "stacked"})
    period_col = columns.index("period")
    for key, label, colour, hatched in drawn_movements(expansion):
        col = columns.index(key)
        fill: dict[str, Any] = (
            {"pattern": {"pattern": "wide_upward_diagonal", "fg_color": colour, "bg_color": "#FFFFFF"}}
            if hatched
            else {"fill": {"color": colour}}
        )
        chart.add_series(
            {
                "name": label,
                "categories": ["Expansion", 1, period_col, last, period_col],
                "values": ["Expansion", 1, col, last, col],
                "gap": 40,
                "border": {"color": colour},
                **fill,
            }
        )
    chart.set_title(
        {
            "name": "Revenue bridge by period: gains above zero, losses below"
            if data.mode == "arr"
            else "Won bookings by period: new, cross-sell and upsell (bookings mode shows no losses)"
        }
    )
    chart.set_x_axis({"name": "Period", "label_position": "low"})
    chart.set_y_axis({"name": "ARR movement" if data.mode == "arr" else "Won bookings", "num_format": "#,##0"})
    chart.set_legend({"position": "bottom"})
    if data.mode == "arr" and "closing_arr" in columns and expansion.get_column("closing_arr").null_count() < last:
        line = book.workbook.add_chart({"type": "line"})
        col = columns.index("closing_arr")
        line.add_series(
            {
                "name": "ARR at period close (right axis)",
                "categories": ["Expansion", 1, period_col, last, period_col],
                "values": ["Expansion", 1, col, last, col],
                "y2_axis": True,
                "line": {"color": BLACK, "width": 2.25},
                "marker": {"type": "circle", "size": 5, "fill": {"color": BLACK}, "border": {"color": BLACK}},
            }
        )
        line.set_y2_axis({"name": "ARR", "num_format": "#,##0"})
        chart.combine(line)
    chart.set_size({"width": 960, "height": 460})
    # (the page stars a partial period; the sheet's labels are the CSV's)
    said = " ".join(t.removeprefix("* ") for t in (data.partial_open_text, data.partial_close_text) if t)
    if said:
        sheet.write_string(last + 2, 0, said)
    sheet.insert_chart(last + 3, 0, chart)


def _step_points(days: Sequence[float], survival: Sequence[float]) -> list[tuple[float, float]]:
    """The corners of the step curve of 1 − S: flat until each event time, then up; flat to the last time."""
    points = [(0.0, 0.0)]
    share = 0.0
    for time, surv in zip(days, survival, strict=True):
        if 1.0 - surv != share:
            points.append((time, share))
            share = 1.0 - surv
            points.append((time, share))
    if days and points[-1][0] != days[-1]:
        points.append((days[-1], share))
    return points


def _km_sheet(book: _Book, data: ReportData) -> None:
    km = data.km_curve
    if km.is_empty():
        _message_sheet(book, "KM curve", "No Kaplan–Meier curve was computed for this book.", km.columns)
        return
    table = km.with_columns((1.0 - pl.col("survival")).alias("share_cross_sold"))
    sheet = book.workbook.add_worksheet("KM curve")
    _table(book, sheet, table, 0, "KMCurve")
    sheet.freeze_panes(1, 0)
    groups = (
        km.group_by("group")
        .agg(pl.col("at_risk").max().alias("landed"))
        .with_columns((pl.col("group") == "all").alias("is_all"))
        .sort(["is_all", "landed", "group"], descending=[True, True, False])
        .head(CURVES_MAX)
        .get_column("group")
        .to_list()
    )
    # The chart's own data: the step curve's corners, two columns per group, right of the table.
    first_col = len(table.columns) + 1
    chart = book.workbook.add_chart({"type": "scatter", "subtype": "straight"})
    colours = [BLACK, *[c for c in CATEGORICAL if c != BLACK]]
    for index, group in enumerate(groups):
        one = km.filter(pl.col("group") == group).sort("days")
        points = _step_points(
            [float(v) for v in one.get_column("days").to_list()],
            [float(v) for v in one.get_column("survival").to_list()],
        )
        col = first_col + index * 2
        sheet.write_string(0, col, safe_text(f"days ({group})"), book.header)
        sheet.write_string(0, col + 1, safe_text(f"share cross-sold ({group})"), book.header)
        for offset, (time, share) in enumerate(points, start=1):
            sheet.write_number(offset, col, time, book.formats["days"])
            sheet.write_number(offset, col + 1, share, book.formats["rate"])
        sheet.set_column(col, col + 1, 14)
        colour = colours[index % len(colours)]
        chart.add_series(
            {
                "name": str(group),
                "categories": ["KM curve", 1, col, len(points), col],
                "values": ["KM curve", 1, col + 1, len(points), col + 1],
                "line": {"color": colour, "width": 2.25},
                "marker": {"type": "none"},
            }
        )
    # The page's 90/180/365-day markers: a dashed vertical line each, labelled at its top, kept
    # out of the legend (days past the curve's last are left out, as on the page).
    last_day = max(float(v) for v in km.get_column("days").to_list())
    markers = [day for day in KM_MARKERS if day <= last_day]
    col = first_col + len(groups) * 2
    if markers:
        sheet.write_string(0, col, "marker day", book.header)
        sheet.write_string(0, col + 1, "marker height", book.header)
    for index, day in enumerate(markers):
        top = 1 + index * 2
        for row, height in ((top, 0.0), (top + 1, 1.0)):
            sheet.write_number(row, col, day, book.formats["days"])
            sheet.write_number(row, col + 1, height, book.formats["rate"])
        chart.add_series(
            {
                "name": f"{day} days",
                "categories": ["KM curve", top, col, top + 1, col],
                "values": ["KM curve", top, col + 1, top + 1, col + 1],
                "line": {"color": "#888888", "width": 1, "dash_type": "dash"},
                "marker": {"type": "none"},
                "data_labels": {
                    "series_name": True,
                    "position": "right",
                    "custom": [{"delete": True}, {"value": f"{day} days"}],
                },
            }
        )
    if markers:
        sheet.set_column(col, col + 1, 14)
        chart.set_legend({"position": "bottom", "delete_series": list(range(len(groups), len(groups) + len(markers)))})
    else:
        chart.set_legend({"position": "bottom"})
    chart.set_title({"name": "Share of landed accounts cross-sold by days since land (Kaplan–Meier)"})
    chart.set_x_axis({"name": "Days since land", "min": 0, "major_gridlines": {"visible": True}})
    chart.set_y_axis({"name": "Share cross-sold", "min": 0, "max": 1, "num_format": "0%"})
    chart.set_size({"width": 900, "height": 460})
    # (right of the curves' columns and the markers' two, never over a cell it reads)
    sheet.insert_chart(2, col + (3 if markers else 1), chart)
