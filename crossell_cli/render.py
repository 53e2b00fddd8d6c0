"""The only place a frame becomes a Rich table, CSV, JSON, JSONL, Parquet or XLSX.

Machine formats carry raw numbers (rates as 0–1 fractions, money unrounded, ISO
dates, empty cells for nulls); the table and the spreadsheet format them for people.
Text cells that a spreadsheet would run as a formula get a leading apostrophe (OWASP
CSV injection) in the formats a spreadsheet opens: csv, xlsx and the table. Files are
written atomically: a temporary file in the target folder, then a rename.

The table fits the terminal: every row is one line, numbers are never cut, long text is
cut with "…", and when the columns do not all fit the least important ones are left out
and named in one dim line (``wide`` shows them all).
"""

from __future__ import annotations

import datetime as dt
import errno
import io
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

import polars as pl

if TYPE_CHECKING:
    from rich.console import Console

from .errors import OutputError, UsageError
from .text import shown_invisible

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
Format = Literal["table", "csv", "json", "jsonl", "parquet", "xlsx"]
FORMATS: tuple[str, ...] = ("table", "csv", "json", "jsonl", "parquet", "xlsx")
_BY_SUFFIX = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".txt": "table",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True)
class Output:
    """A result ready to render: the frame, a title, and lines that explain it."""

    frame: pl.DataFrame | pl.LazyFrame  # a lazy frame is streamed to a file, never held whole
    title: str
    notes: tuple[str, ...] = ()
    kinds: Mapping[str, str] = field(default_factory=dict)
    # The order in which a narrow terminal gives up columns: these first (key columns,
    # then the numbers that matter most), then the frame's other columns in frame order.
    # A table shows every column that fits; machine formats always carry every column.
    table_columns: tuple[str, ...] = ()
    # Rows whose first cell is a key here show their ``kinds`` columns in that kind instead
    # (a KPI table mixes rates and days in one value column).
    row_kinds: Mapping[str, str] = field(default_factory=dict)
    # Printed once between the title and the table (e.g. the one account a whitespace
    # table is about), so its rows need not repeat it. Tables and the xlsx "about" sheet only.
    header: str | None = None
    # The columns the header line stands for (one value on every row, e.g. account_id and
    # account_name of the one account): the table leaves them out, even with ``wide``.
    header_columns: tuple[str, ...] = ()
    # "product": table headers say product where they say family. Column names in the
    # machine formats never change.
    level: str = "family"


# ---------------------------------------------------------------------------------------
# column kinds drive the human formatting; machine formats never change values

# The column names the metrics use (SPEC §2), grouped by how a person reads them; the report
# (report/fmt.py) reads its columns by the same names.
RATE_COLUMNS = re.compile(
    r"(_rate|_share|^share_|_attach|^ci_low$|^ci_high$|(^|_)score$|^within_\d+d$|^logo_retention$|"
    r"^grr$|^nrr$|_pct$|^precision_at_\d+$|^recall_at_\d+$|^hit_rate$|^discount$|^realized_price|^survival$)"
)
MONEY_COLUMNS = re.compile(
    r"(^amount$|_amount$|_arr$|^arr$|_value$|^new$|^reactivation$|^cross_sell$|^upsell$|"
    r"^contraction$|^churn$|^expansion$|^cross_sell_pass_through$|^revenue$|_revenue$)"
)
DAYS_COLUMNS = re.compile(r"(_days$|^days$)")
_RATE, _MONEY, _DAYS = RATE_COLUMNS, MONEY_COLUMNS, DAYS_COLUMNS
_RATIO = re.compile(r"^lift$")
# Kinds whose cells are never cut: a number, a date or yes/no is whole or it is wrong.
_TEXT = "text"
# Money columns whose values are all below this show cents; larger money shows whole units.
_CENTS_BELOW = 100


def column_kind(name: str, dtype: pl.DataType, overrides: Mapping[str, str]) -> str:
    if name in overrides:
        return overrides[name]
    if dtype == pl.String:
        return "text"
    if dtype in (pl.Date, pl.Datetime):
        return "date"
    if dtype == pl.Boolean:
        return "bool"
    if _RATIO.search(name):
        return "ratio"
    if _RATE.search(name):
        return "rate"
    if _MONEY.search(name):
        return "money"
    if _DAYS.search(name):
        return "days"
    if dtype.is_integer():
        return "count"
    return "number"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wants_cents(values: Iterable[object]) -> bool:
    """Cents only where every value of the column is small and some value has them."""
    numbers = [float(v) for v in values if _is_number(v) and math.isfinite(float(v))]  # type: ignore[arg-type]
    return (
        bool(numbers) and max(abs(v) for v in numbers) < _CENTS_BELOW and any(round(v, 2) != round(v) for v in numbers)
    )


def _human(value: object, kind: str, *, cents: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    if _is_number(value):
        number = float(value)  # type: ignore[arg-type]
        if kind == "rate":
            return f"{number * 100:.1f}%"
        if kind == "ratio":
            return f"{number:.2f}×"
        if kind == "money":
            return f"{number:,.2f}" if cents else f"{number:,.0f}"
        if kind == "days":
            # 20.5 days is not 20 days; 175.0 days is 175
            return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"
        if isinstance(value, int):
            return f"{value:,}"
        return f"{number:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def guard_formulas(frame: Frame) -> Frame:
    """Prefix text cells starting with = + - @ tab CR LF with ' (numbers stay numbers)."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    texts = [name for name, dtype in schema.items() if dtype == pl.String]
    if not texts:
        return frame
    pattern = "^[=+\\-@\t\r\n]"
    return frame.with_columns(
        [
            pl.when(pl.col(c).str.contains(pattern)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c in texts
        ]
    )


# ---------------------------------------------------------------------------------------
# choosing the format and the destination


def resolve_format(fmt: str | None, path: str | None, stdout_is_tty: bool) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
        return fmt
    if path and path != "-":
        suffix = Path(path).suffix.lower()
        if suffix in _BY_SUFFIX:
            return _BY_SUFFIX[suffix]
        raise UsageError(
            f"-o {path}: cannot tell the format from '{suffix or 'no extension'}'",
            hint="use .csv, .json, .jsonl, .parquet or .xlsx, or pass --format",
        )
    return "table" if stdout_is_tty else "csv"


def expand_path(path: str, *, as_of: dt.date | None, today: dt.date) -> str:
    """Fill the {as_of} and {today} placeholders of an output path (for cron jobs)."""
    return path.replace("{as_of}", as_of.isoformat() if as_of else "unknown").replace("{today}", today.isoformat())


def check_not_input(path: Path, inputs: Iterable[Path]) -> None:
    target = path.resolve()
    for source in inputs:
        try:
            same = source.resolve() == target
        except OSError:  # pragma: no cover - a vanished input cannot be the output
            same = False
        if same:
            raise OutputError(
                f"refusing to write {path}: it is one of the inputs",
                hint="choose another output path",
            )


# ---------------------------------------------------------------------------------------
# writers


def _write_bytes(output: Output, fmt: str) -> bytes:
    buffer = io.BytesIO()
    _write(output, fmt, buffer)
    return buffer.getvalue()


def _write(output: Output, fmt: str, buffer: IO[bytes]) -> None:
    """Write ``output.frame`` as ``fmt`` straight into ``buffer`` (an open file): a
    million-row result is never held a second time as bytes, and a lazy one is streamed."""
    frame = output.frame
    if isinstance(frame, pl.LazyFrame):
        if fmt == "csv":
            guard_formulas(frame).sink_csv(buffer)
            return
        if fmt == "parquet":
            frame.sink_parquet(buffer)
            return
        if fmt == "jsonl":
            frame.sink_ndjson(buffer)
            return
        frame = frame.collect()
    if fmt == "csv":
        guard_formulas(frame).write_csv(buffer)
    elif fmt == "json":
        buffer.write(frame.write_json().encode("utf-8") + b"\n")
    elif fmt == "jsonl":
        frame.write_ndjson(buffer)
    elif fmt == "parquet":
        frame.write_parquet(buffer)
    elif fmt == "xlsx":
        _write_xlsx(guard_formulas(frame), output, buffer)
    else:  # pragma: no cover - resolve_format guards this
        raise AssertionError(fmt)


# ---------------------------------------------------------------------------------------
# xlsx: the same numbers, in the formats a spreadsheet person expects

# The last row Excel has, less the header.
_XLSX_MAX_ROWS = 1_048_575
_XLSX_TEXT_WIDTH = 60  # characters; a longer text column wraps off screen anyway
_XLSX_DATE = "yyyy-mm-dd"


def _xlsx_format(kind: str, values: pl.Series) -> str | None:
    """The Excel number format of a column of this kind (None: Excel's default)."""
    if kind == "rate":
        return "0.0%"
    if kind == "ratio":
        return "0.00"
    if kind == "money":
        return "#,##0.00" if _series_wants_cents(values) else "#,##0"
    if kind == "days":
        return "0.0" if _series_fractional(values) else "0"
    if kind == "count":
        return "0"
    if kind == "number":
        return "0.00"
    if kind == "date":
        return _XLSX_DATE
    return None


def _numeric(values: pl.Series) -> pl.Series:
    if not values.dtype.is_numeric():
        return pl.Series(values.name, [], pl.Float64)
    floats = values.cast(pl.Float64).drop_nulls()
    return floats.filter(floats.is_finite())


def _series_wants_cents(values: pl.Series) -> bool:
    floats = _numeric(values)
    if floats.is_empty():
        return False
    biggest = floats.abs().max()
    return isinstance(biggest, float) and biggest < _CENTS_BELOW and bool((floats.round(2) != floats.round(0)).any())


def _series_fractional(values: pl.Series) -> bool:
    floats = _numeric(values)
    return bool((floats != floats.round(0)).any()) if not floats.is_empty() else False


def _xlsx_width(name: str, kind: str, values: pl.Series) -> int:
    """Column width in characters: the header or the widest value shown, within reason."""
    header = len(name) + 3  # room for the filter button
    if kind == "text":
        longest = values.cast(pl.String).str.len_chars().max() if values.len() else 0
        body = min(int(longest) if isinstance(longest, int) else 0, _XLSX_TEXT_WIDTH)
    elif kind == "date":
        body = 10
    else:
        floats = _numeric(values)
        biggest = floats.abs().max() if not floats.is_empty() else 0.0
        body = len(_human(float(biggest) if isinstance(biggest, float) else 0.0, kind, cents=True)) + 2
    return max(8, header, body)


def _write_xlsx(frame: pl.DataFrame, output: Output, target: IO[bytes]) -> None:
    import xlsxwriter

    if frame.height > _XLSX_MAX_ROWS:
        raise OutputError(
            f"an xlsx sheet holds at most {_XLSX_MAX_ROWS:,} rows and this result has {frame.height:,}",
            hint="write csv or parquet instead (-o result.parquet), or narrow it with --where (whitespace: --top)",
        )
    kinds = {name: column_kind(name, dtype, output.kinds) for name, dtype in frame.schema.items()}
    formats: dict[str, str] = {}
    widths: dict[str, int] = {}
    for name in frame.columns:
        fmt = _xlsx_format(kinds[name], frame[name])
        if fmt is not None:
            formats[name] = fmt
        widths[name] = _xlsx_width(name, kinds[name], frame[name]) * 7 + 5  # characters -> pixels
    # A string is never a formula or a link: the apostrophe guard is the visible marker and
    # xlsxwriter must not turn "'=..." back into anything but text.
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    with xlsxwriter.Workbook(target, options) as workbook:
        frame.write_excel(
            workbook,
            worksheet="data",
            column_formats=formats,  # type: ignore[arg-type]
            column_widths=widths,  # type: ignore[arg-type]
            freeze_panes=(1, 0),
            autofit=False,
        )
        if output.row_kinds and frame.width and frame.height:
            _xlsx_row_kinds(workbook, frame, output)
        about = workbook.add_worksheet("about")
        about.set_column(0, 0, 100)
        about.write_string(0, 0, output.title, workbook.add_format({"bold": True}))
        lines = [*(output.header.splitlines() if output.header else []), *output.notes]
        for i, line in enumerate(lines, start=1):
            about.write_string(i, 0, line)


def _xlsx_row_kinds(workbook: Any, frame: pl.DataFrame, output: Output) -> None:
    """Rows named in ``row_kinds`` get that kind's number format in the ``kinds`` columns
    (summary's median_days_to_cross_sell row is days in a column of rates)."""
    sheet = workbook.get_worksheet_by_name("data")
    keys = frame[frame.columns[0]].cast(pl.String)
    formats: dict[str, Any] = {}
    for name in (c for c in frame.columns if c in output.kinds):
        for key, kind in output.row_kinds.items():
            rows = (keys == key).arg_true().to_list()
            fmt = _xlsx_format(kind, frame[name].gather(rows)) or "General"
            if fmt not in formats:
                formats[fmt] = workbook.add_format({"num_format": fmt, "valign": "vcenter"})
            for row in rows:
                value = frame[name][row]
                if _is_number(value):
                    sheet.write_number(row + 1, frame.get_column_index(name), value, formats[fmt])


# ---------------------------------------------------------------------------------------
# the table a person reads

# Short headers for the table view; machine formats keep the snake_case names.
_LABELS = {
    "base_family": "base",
    "target_family": "target",
    "base_accounts": "base n",
    "both_accounts": "both n",
    "target_accounts": "target n",
    "attach_rate": "attach",
    "target_rate": "target rate",
    "cross_sell_attach": "x-sell",
    "cross_sold_after": "after",
    "co_booked": "co-booked",
    "expected_value": "expected value",
    "accounts_landed": "landed",
    "accounts_cross_sold": "cross-sold",
    "median_days": "median days",
    "km_median_days": "km median",
    "premature_cross_sells": "premature",
    "premature_early_churn_rate": "premature churn",
    "other_early_churn_rate": "other churn",
    "cross_sell": "cross-sell",
    "cross_sell_share": "cross-sell share",
    "cross_sell_pass_through": "pass through",
    "non_owners": "non-owners",
    "products_owned": "families owned",  # (SPEC's column name counts families at family level)
    "grr": "GRR",
    "nrr": "NRR",
}
# A merged "low–high" cell stands in for the two interval columns.
_CI = "ci"
_CI_LABEL = "95% ci"
# The gap between two columns: Rich's SIMPLE_HEAD box without edges, padding collapsed.
_GAP = 2
# A text column is cut to no less than this before columns are left out; single-word
# values (ids, codes, flag names) up to _TOKEN_MAX are never cut.
_TEXT_FLOOR = 12
_TOKEN_MAX = 24
# Key columns (the text columns a row is known by, ahead of the first number in priority
# order) are cut only beyond this: a table of "Core → Legacy Conne…" rows says less than
# one with a number fewer.
_KEY_MAX = 32
_WHITESPACE = re.compile(r"\s+")
# A terminal shows this many rows; the rest are one --format csv away.
TERMINAL_ROWS = 200
# Width of a table written to a file or a pipe with --format table.
FILE_WIDTH = 200


def _label(name: str, level: str) -> str:
    if name in _LABELS:
        label = _LABELS[name]
    elif re.fullmatch(r"[a-z][a-z0-9_]*", name):
        label = name.replace("_", " ")
    else:  # a family or product name heading a matrix column: as it is
        return name
    if level == "product" and re.search(r"\bfamil(y|ies)\b", label):
        label = re.sub(r"\bfamily\b", "product", re.sub(r"\bfamilies\b", "products", label))
    return label


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut with "…" but never inside a number."""
    if _cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    room = width - 1
    kept, used = 0, 0
    for ch in text:
        size = _cell_len(ch)
        if used + size > room:
            break
        kept, used = kept + 1, used + size
    head, rest = text[:kept], text[kept:]
    partial = re.search(r"\S+$", head)
    if partial and rest and not rest[0].isspace():
        word = partial.group() + rest.split(maxsplit=1)[0]
        # "owns Payroll; 4…" would say 4%: a number is shown whole or not at all.
        if any(ch.isdigit() for ch in word) and partial.start() > 0:
            head = head[: partial.start()]
    return head.rstrip(" ,;:·") + "…"


@dataclass(frozen=True)
class _Column:
    name: str
    label: str
    kind: str
    cells: tuple[str, ...]
    key: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "date", "bool")

    @cached_property
    def longest(self) -> int:
        return max((_cell_len(c) for c in self.cells), default=0)

    @cached_property
    def min_width(self) -> int:
        # A header wraps between words, never inside one.
        word = max((_cell_len(w) for w in self.label.split()), default=0)
        if self.kind != _TEXT:
            return max(word, self.longest)
        if self.key:
            return max(word, min(self.longest, _KEY_MAX))
        tokens = max((_cell_len(c) for c in self.cells if " " not in c and _cell_len(c) <= _TOKEN_MAX), default=0)
        return max(word, min(self.longest, max(_TEXT_FLOOR, tokens)))

    @cached_property
    def natural(self) -> int:
        return max(_cell_len(self.label), self.longest)


@dataclass(frozen=True)
class _Fit:
    shown: tuple[str, ...]  # display order
    widths: Mapping[str, int]
    dropped: tuple[str, ...]  # most important first

    @property
    def width(self) -> int:
        return sum(self.widths[n] for n in self.shown) + _GAP * max(len(self.shown) - 1, 0)


def _fit(columns: Mapping[str, _Column], order: Sequence[str], priority: Sequence[str], width: int | None) -> _Fit:
    """Which columns fit in ``width`` cells, and how wide each is.

    Columns join in ``priority`` order at their narrowest (numbers whole, text cut to a
    floor, headers wrapped between words) until the next one does not fit: it and every
    less important column are left out. The room left widens text columns to their
    longest value, most important first, then unwraps headers. ``width=None``: every
    column at full width.
    """
    if width is None:
        return _Fit(tuple(order), {n: columns[n].natural for n in order}, ())
    chosen: list[str] = []
    used = 0
    for name in priority:
        need = columns[name].min_width + (_GAP if chosen else 0)
        if chosen and used + need > width:
            break
        chosen.append(name)
        used += need
    widths = {n: columns[n].min_width for n in chosen}
    if len(chosen) == 1 and columns[chosen[0]].kind == _TEXT:
        widths[chosen[0]] = max(1, min(widths[chosen[0]], width))
    spare = width - used
    for goal in ("longest", "natural"):
        for name in chosen:
            grow = max(0, min(spare, getattr(columns[name], goal) - widths[name]))
            widths[name] += grow
            spare -= grow
    kept = set(chosen)
    return _Fit(tuple(n for n in order if n in kept), widths, tuple(n for n in priority if n not in kept))


def _display_order(frame_columns: Sequence[str], view: Sequence[str]) -> list[str]:
    """``view`` first-class and in its own order; each other column stays after the
    frame column it follows (attach's target n next to target, lift after the rates)."""
    if not view:
        return list(frame_columns)
    chosen = set(view)
    lead: list[str] = []
    after: dict[str, list[str]] = {}
    anchor: str | None = None
    for name in frame_columns:
        if name in chosen:
            anchor = name
        elif anchor is None:
            lead.append(name)
        else:
            after.setdefault(anchor, []).append(name)
    return [*lead, *(n for v in view for n in (v, *after.get(v, ())))]


def _table_columns(frame: pl.DataFrame, output: Output) -> tuple[dict[str, _Column], list[str], list[str]]:
    """The table's columns with their cells as text, the display order and the priority."""
    kinds = {name: column_kind(name, dtype, output.kinds) for name, dtype in frame.schema.items()}
    rows = frame.rows()
    row_kind: list[str | None] = [
        output.row_kinds.get(str(row[0])) if output.row_kinds and row else None for row in rows
    ]
    cells: dict[str, list[str]] = {}
    for i, name in enumerate(frame.columns):
        kind_of = [special if special and name in output.kinds else kinds[name] for special in row_kind]
        cents = {
            kind: _wants_cents(row[i] for row, k in zip(rows, kind_of, strict=True) if k == kind)
            for kind in set(kind_of)
            if kind == "money"
        }
        cells[name] = [
            _WHITESPACE.sub(" ", shown_invisible(_human(row[i], k, cents=cents.get(k, False)))).strip()
            for row, k in zip(rows, kind_of, strict=True)
        ]
    order = list(frame.columns)
    view = [c for c in output.table_columns if c in kinds]
    priority = [*view, *(c for c in order if c not in view)]
    order = _display_order(order, view)
    keys: set[str] = set()
    for name in priority:
        if kinds[name] != _TEXT:
            break
        keys.add(name)
    columns = {n: _Column(n, _label(n, output.level), kinds[n], tuple(cells[n]), key=n in keys) for n in frame.columns}
    # A 95% interval reads best as one cell: "50.4–58.4%".
    if "ci_low" in columns and "ci_high" in columns:
        low, high = cells["ci_low"], cells["ci_high"]
        merged = tuple(f"{lo.rstrip('%')}–{hi}" if lo else "" for lo, hi in zip(low, high, strict=True))
        columns[_CI] = _Column(_CI, _CI_LABEL, "rate", merged)
        for names in (order, priority):
            names[names.index("ci_low")] = _CI
            names.remove("ci_high")
        del columns["ci_low"], columns["ci_high"]
    return columns, order, priority


def table_text(output: Output, *, width: int | None = None, color: bool = False, wide: bool = False) -> str:
    """The table as a person reads it, ``width`` cells wide (default: 80)."""
    buffer = io.StringIO()
    _print_table(_console(buffer, width=width or 80, color=color), output, wide=wide)
    return buffer.getvalue()


def _console(file: IO[str], *, width: int, color: bool) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich's own ends the process with exit 1 and says nothing; the CLI ends a
            # broken pipe itself, keeping the command's exit code and the row account.
            raise BrokenPipeError(errno.EPIPE, "the reader of stdout went away")

    return _Console(
        file=file,
        width=width,
        highlight=False,
        soft_wrap=False,
        no_color=not color,
        force_terminal=color,
        emoji=False,
        markup=False,
    )


def _terminal_width(out: IO[str]) -> int:
    """COLUMNS when set (as Rich and most tools read it), else the terminal's own width."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return 80


def _print_table(console: Console, output: Output, *, limit: int | None = None, wide: bool = False) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    source = output.frame
    if isinstance(source, pl.LazyFrame):
        total = int(source.select(pl.len()).collect().item())
        source = source.collect() if limit is None else source.head(limit).collect()
    else:
        total = source.height
    frame = guard_formulas(source if limit is None else source.head(limit))
    if output.header_columns:
        frame = frame.drop(output.header_columns, strict=False)
    columns, order, priority = _table_columns(frame, output)
    fit = _fit(columns, order, priority, None if wide else console.width)

    print_ = console.print
    print_(Text(output.title, style="italic"))
    if output.header:
        print_(Text(output.header))
    print_()
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    for name in fit.shown:
        column = columns[name]
        table.add_column(
            Text(column.label),  # wraps between words: the column is at least as wide as the longest
            justify="right" if column.numeric else "left",
            width=fit.widths[name],
        )
    for i in range(frame.height):
        table.add_row(
            *(Text(_cut(columns[n].cells[i], fit.widths[n]), no_wrap=True, overflow="ellipsis") for n in fit.shown)
        )
    # Rich shrinks every column of a table wider than the console (folding numbers): the
    # console is widened instead, which only happens with wide or a first column wider
    # than the terminal.
    terminal = console.width
    console.width = max(terminal, fit.width)
    try:
        if fit.shown:  # a result with no columns at all ("nothing to measure") has no table
            print_(table, crop=False)
            print_()
    finally:
        console.width = terminal
    if frame.is_empty():
        print_("(no rows)")
    for note in output.notes:
        print_(Text(note, style="dim"))
    if fit.dropped and not frame.is_empty():
        left_out = [columns[n].label for n in fit.dropped]
        print_(Text(_not_shown(left_out, console.width), style="dim"))
    elif not frame.is_empty():
        # Every column shown, but a reason cut at "owns Payroll; 48% of Payroll…": say where
        # the rest of the text is, as the left-out columns' line does.
        cut = [columns[n].label for n in fit.shown if columns[n].longest > fit.widths[n]]
        if cut:
            print_(Text(f"text cut to fit: {', '.join(cut)} — widen the terminal or use --wide", style="dim"))
    if total > frame.height:
        print_(Text(f"showing {frame.height:,} of {total:,} rows; --format csv or -o FILE has them all", style="dim"))


def _not_shown(names: Sequence[str], width: int) -> str:
    """The columns a narrow terminal leaves out, in one line of at most ``width``: all named
    when they fit, else the first ones and how many more (a terminal too narrow even for that
    gets them all, wrapped)."""
    full = f"not shown: {', '.join(names)} — widen the terminal or use --wide"
    if len(full) <= width:
        return full
    for k in range(len(names), 0, -1):
        rest = len(names) - k
        text = f"not shown: {', '.join(names[:k])}{f' and {rest} more' if rest else ''} — use --wide"
        if len(text) <= width:
            return text
    return full


def emit(
    output: Output,
    *,
    fmt: str | None,
    path: str | None,
    inputs: Iterable[Path],
    stdout: IO[str] | None = None,
    stdout_is_tty: bool | None = None,
    wide: bool = False,
) -> str | None:
    """Render ``output`` to stdout or to a file; returns the path written, if any.

    ``wide``: the table shows every column at full width, even wider than the terminal.
    """
    out = stdout or sys.stdout
    tty = out.isatty() if stdout_is_tty is None else stdout_is_tty
    chosen = resolve_format(fmt, path, tty)
    if path is None or path == "-":
        if chosen == "table":
            # no-color.org: NO_COLOR set to anything but the empty string turns colour off.
            color = tty and not os.environ.get("NO_COLOR")
            console = _console(out, width=_terminal_width(out) if tty else FILE_WIDTH, color=color)
            _print_table(console, output, limit=TERMINAL_ROWS if tty else None, wide=wide)
        else:
            binary = getattr(out, "buffer", None)
            if chosen in ("parquet", "xlsx"):
                if tty:
                    raise UsageError(f"{chosen} is a binary format; write it to a file with -o report.{chosen}")
                if binary is None:
                    raise UsageError(f"{chosen} needs a file: use -o report.{chosen}")
            if binary is None:  # a text stream without bytes underneath (tests, notebooks)
                out.write(_write_bytes(output, chosen).decode("utf-8"))
            else:
                out.flush()
                pipe = QuietPipe(binary)
                _write(output, chosen, pipe)  # type: ignore[arg-type]
                pipe.close()
            out.flush()
        return None
    target = Path(path)
    check_not_input(target, inputs)
    if chosen == "table":
        write_atomic(target, table_text(output, width=FILE_WIDTH, wide=wide).encode("utf-8"))
    else:
        write_atomic(target, lambda fh: _write(output, chosen, fh))
    return str(target)


def in_place(target: Path) -> bool:
    """True when ``target`` must be written where it is rather than by a rename onto it: an
    existing symlink, device or pipe (``-o /dev/stdout``, a named pipe). A rename would put a
    plain file in place of the link or the device node (as root, even under /dev)."""
    try:
        return not stat.S_ISREG(os.lstat(target).st_mode)
    except OSError:
        return False


def write_atomic(target: Path, data: bytes | Callable[[IO[bytes]], None]) -> None:
    if in_place(target):
        try:
            with target.open("wb") as fh:
                if isinstance(data, bytes):
                    fh.write(data)
                else:
                    data(fh)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        return
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: the folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                data(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; match a normal file
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------
# streaming a long result into its destination, inside the command's one collect


def streams(fmt: str | None, path: str | None, stdout_is_tty: bool) -> bool:
    """True when the output goes to a file or a pipe in a format Polars can write as it computes."""
    return resolve_format(fmt, path, stdout_is_tty) in ("csv", "parquet", "jsonl")


@dataclass
class Sink:
    """A lazy sink of the main table (collected with everything else) and how to finish it."""

    plan: pl.LazyFrame
    finish: Callable[[], str | None]  # after the collect: move the file into place; the path written
    abandon: Callable[[], None]  # when a check fails after the collect: leave no partial file


def sink(
    frame: pl.LazyFrame,
    *,
    fmt: str | None,
    path: str | None,
    inputs: Iterable[Path],
    stdout: IO[str] | None = None,
    stdout_is_tty: bool | None = None,
) -> Sink:
    """The main table as a lazy sink into ``path`` (atomically: a temporary file in the same
    folder, renamed when the collect is done) or into stdout."""
    out = stdout or sys.stdout
    tty = out.isatty() if stdout_is_tty is None else stdout_is_tty
    chosen = resolve_format(fmt, path, tty)
    if chosen == "csv":
        frame = guard_formulas(frame)
    if path is None or path == "-":
        binary = getattr(out, "buffer", None)
        if chosen == "parquet" and tty:
            raise UsageError(f"{chosen} is a binary format; write it to a file with -o report.{chosen}")
        if binary is None:
            raise UsageError(f"{chosen} output needs a real stdout or a file: use -o FILE")
        out.flush()
        pipe = QuietPipe(binary)
        return Sink(_sink_plan(frame, chosen, pipe), pipe.close, lambda: None)  # type: ignore[arg-type]
    target = Path(path)
    check_not_input(target, inputs)
    if in_place(target):
        # opened once here (Polars, given the path of a named pipe, opens it more than once)
        try:
            handle = target.open("wb")
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None

        def done() -> str:
            try:
                handle.close()  # the last bytes are flushed here: a full disk may show only now
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
            return str(target)

        return Sink(_sink_plan(frame, chosen, handle), done, handle.close)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: the folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)

    def finish() -> str:
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; match a normal file
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {target}: {exc.strerror}") from None
        return str(target)

    return Sink(_sink_plan(frame, chosen, tmp), finish, lambda: tmp.unlink(missing_ok=True))


def _sink_plan(frame: pl.LazyFrame, fmt: str, target: Path | IO[bytes]) -> pl.LazyFrame:
    if fmt == "csv":
        return frame.sink_csv(target, lazy=True)
    if fmt == "parquet":
        return frame.sink_parquet(target, lazy=True)
    return frame.sink_ndjson(target, lazy=True)


class QuietPipe:
    """stdout for a writer that must not stop half-way: when the reader goes away (``xsell
    whitespace | head -3``: EPIPE), the rest is dropped instead of failing inside Polars, so
    the command's one collect still completes and its row account and exit code are known.
    ``close`` then raises ``BrokenPipeError`` for the CLI to end quietly."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.broken = False

    def write(self, data: bytes) -> int:
        if not self.broken:
            self._guard(lambda: self.raw.write(data))
        return len(data)

    def flush(self) -> None:
        if not self.broken:
            self._guard(self.raw.flush)

    def close(self) -> None:
        """Flush what is left; raise ``BrokenPipeError`` if the reader went away."""
        self.flush()
        if self.broken:
            raise BrokenPipeError(errno.EPIPE, "the reader of stdout went away")

    def _guard(self, call: Callable[[], object]) -> None:
        try:
            call()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self.broken = True
