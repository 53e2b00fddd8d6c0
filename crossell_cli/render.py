"""The only place a frame becomes a Rich table, CSV, JSON, JSONL, Parquet or XLSX.

Machine formats carry raw numbers (rates as 0–1 fractions, money unrounded, ISO
dates, empty cells for nulls); the table formats them for people. Text cells that a
spreadsheet would run as a formula get a leading apostrophe (OWASP CSV injection) in
the formats a spreadsheet opens: csv, xlsx and the table. Files are written
atomically: a temporary file in the target folder, then a rename.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, TypeVar

import polars as pl

if TYPE_CHECKING:
    from rich.console import Console

from .errors import OutputError, UsageError

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
    # The columns a person sees in the table view (all columns when empty); machine
    # formats always carry every column.
    table_columns: tuple[str, ...] = ()
    # Rows whose first cell is a key here show their ``kinds`` columns in that kind instead
    # (a KPI table mixes rates and days in one value column).
    row_kinds: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# column kinds drive the human formatting; machine formats never change values

_RATE = re.compile(
    r"(_rate|_share|^share_|_attach|^ci_low$|^ci_high$|^score$|^within_\d+d$|^logo_retention$|"
    r"^grr$|^nrr$|_pct$|^precision_at_\d+$|^recall_at_\d+$|^hit_rate$|^discount$|^realized_price)"
)
_MONEY = re.compile(
    r"(^amount$|_amount$|_arr$|^arr$|_value$|^new$|^reactivation$|^cross_sell$|^upsell$|"
    r"^contraction$|^churn$|^expansion$|^cross_sell_pass_through$|^revenue$|_revenue$)"
)
_DAYS = re.compile(r"(_days$|^days$)")
_RATIO = re.compile(r"^lift$")


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


def _human(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "rate" and isinstance(value, (int, float)):
        return f"{value * 100:.1f}%"
    if kind == "ratio" and isinstance(value, (int, float)):
        return f"{value:.2f}×"
    if kind == "money" and isinstance(value, (int, float)):
        return f"{value:,.0f}" if abs(value) >= 100 or value == 0 else f"{value:,.2f}"
    if kind == "days" and isinstance(value, (int, float)):
        return f"{value:,.0f}"
    if kind == "count" and isinstance(value, int):
        return f"{value:,}"
    if kind == "number" and isinstance(value, float):
        return f"{value:,.2f}"
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


def _write_bytes(frame: pl.DataFrame | pl.LazyFrame, fmt: str, notes: Sequence[str], title: str) -> bytes:
    buffer = io.BytesIO()
    _write(frame, fmt, notes, title, buffer)
    return buffer.getvalue()


def _write(frame: pl.DataFrame | pl.LazyFrame, fmt: str, notes: Sequence[str], title: str, buffer: IO[bytes]) -> None:
    """Write ``frame`` as ``fmt`` straight into ``buffer`` (an open file): a million-row
    result is never held a second time as bytes, and a lazy one is streamed."""
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
        _write_xlsx(guard_formulas(frame), buffer, notes, title)
    else:  # pragma: no cover - resolve_format guards this
        raise AssertionError(fmt)


def _write_xlsx(frame: pl.DataFrame, target: IO[bytes], notes: Sequence[str], title: str) -> None:
    import xlsxwriter

    with xlsxwriter.Workbook(target, {"in_memory": True}) as workbook:
        frame.write_excel(workbook, worksheet="data", autofit=True, float_precision=6)
        about = workbook.add_worksheet("about")
        about.write(0, 0, title)
        for i, note in enumerate(notes, start=1):
            about.write_string(i, 0, note)


def table_text(output: Output, *, width: int | None = None, color: bool = False) -> str:
    buffer = io.StringIO()
    _print_table(_console(buffer, width=width, color=color), output)
    return buffer.getvalue()


def _console(file: IO[str], *, width: int | None, color: bool) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        width=width,
        highlight=False,
        soft_wrap=False,
        no_color=not color,
        force_terminal=color,
        emoji=False,
    )


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
}


# A terminal shows this many rows; the rest are one --format csv away.
TERMINAL_ROWS = 200


def _print_table(console: Console, output: Output, *, limit: int | None = None) -> None:
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
    hidden = 0
    if output.table_columns:
        shown = [c for c in output.table_columns if c in frame.columns]
        hidden = frame.width - len(shown)
        frame = frame.select(shown)
    kinds = {name: column_kind(name, dtype, output.kinds) for name, dtype in frame.schema.items()}
    cells: list[list[str]] = []
    for values in frame.iter_rows():
        special = output.row_kinds.get(str(values[0])) if output.row_kinds else None
        cells.append(
            [
                _human(v, special if special and n in output.kinds else kinds[n])
                for n, v in zip(frame.columns, values, strict=True)
            ]
        )
    headers = list(frame.columns)
    # A 95% interval reads best as one cell: "50.4–58.4%".
    if "ci_low" in headers and "ci_high" in headers:
        lo, hi = headers.index("ci_low"), headers.index("ci_high")
        for row in cells:
            row[lo] = f"{row[lo].rstrip('%')}–{row[hi]}" if row[lo] else ""
            del row[hi]
        headers[lo] = "95% ci"
        kinds["95% ci"] = "rate"
        del headers[hi]
    table = Table(
        title=output.title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for i, name in enumerate(headers):
        numeric = kinds.get(name, "text") not in ("text", "date", "bool")
        longest = max((len(row[i]) for row in cells), default=0)
        # Values never wrap (the column is at least as wide as its longest number, and
        # names keep a readable width); headers wrap between words on a narrow terminal.
        table.add_column(
            _LABELS.get(name, name.replace("_", " ")),
            justify="right" if numeric else "left",
            overflow="fold",
            min_width=longest if numeric else min(longest, 12),
        )
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    print_ = console.print
    # When even the narrowest layout is wider than the terminal, Rich would crop the last
    # columns; a line the terminal wraps is better than a column silently missing.
    print_(table, crop=False)
    if frame.is_empty():
        print_("(no rows)")
    for note in output.notes:
        print_(Text(note, style="dim"))
    if hidden:
        print_(Text(f"{hidden} more column(s) in --format csv, json or xlsx", style="dim"))
    if total > frame.height:
        print_(Text(f"showing {frame.height:,} of {total:,} rows; --format csv or -o FILE has them all", style="dim"))


def emit(
    output: Output,
    *,
    fmt: str | None,
    path: str | None,
    inputs: Iterable[Path],
    stdout: IO[str] | None = None,
    stdout_is_tty: bool | None = None,
) -> str | None:
    """Render ``output`` to stdout or to a file; returns the path written, if any."""
    out = stdout or sys.stdout
    tty = out.isatty() if stdout_is_tty is None else stdout_is_tty
    chosen = resolve_format(fmt, path, tty)
    if path is None or path == "-":
        if chosen == "table":
            color = tty and "NO_COLOR" not in os.environ
            console = _console(out, width=None if tty else 200, color=color)
            _print_table(console, output, limit=TERMINAL_ROWS if tty else None)
        else:
            binary = getattr(out, "buffer", None)
            if chosen in ("parquet", "xlsx"):
                if tty:
                    raise UsageError(f"{chosen} is a binary format; write it to a file with -o report.{chosen}")
                if binary is None:
                    raise UsageError(f"{chosen} needs a file: use -o report.{chosen}")
            if binary is None:  # a text stream without bytes underneath (tests, notebooks)
                out.write(_write_bytes(output.frame, chosen, output.notes, output.title).decode("utf-8"))
            else:
                out.flush()
                _write(output.frame, chosen, output.notes, output.title, binary)
                binary.flush()
            out.flush()
        return None
    target = Path(path)
    check_not_input(target, inputs)
    if chosen == "table":
        write_atomic(target, table_text(output, width=200).encode("utf-8"))
    else:
        write_atomic(target, lambda fh: _write(output.frame, chosen, output.notes, output.title, fh))
    return str(target)


def write_atomic(target: Path, data: bytes | Callable[[IO[bytes]], None]) -> None:
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
        return Sink(_sink_plan(frame, chosen, binary), lambda: _flush(out, binary), lambda: None)
    target = Path(path)
    check_not_input(target, inputs)
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


def _flush(out: IO[str], binary: IO[bytes]) -> None:
    binary.flush()
    out.flush()
