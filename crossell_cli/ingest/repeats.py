"""Lines a book holds more than once: exact copies of a row, and one product held several times.

Both are warnings (``rules.py``: ``duplicate_row``, ``overlapping_lines``): the rows are
used, and ``xsell validate`` says where they are and what they do to the numbers.

- an exact copy is a used row whose every cell (mapped or not) repeats an earlier used row;
- an overlap is a won line that starts while other won lines of the same account and
  product are active (start_date <= day < end_date, an empty end never ends). Only books
  with end dates are checked: in a bookings export a repeat order of a product is a new
  purchase, not a second copy of something still held.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..runs import running
from .read import EXTRA, ROW, RawTable
from .rules import CONCURRENT, DUPLICATE_OF


def _won() -> pl.Expr:
    return pl.col("stage").is_null() | (pl.col("stage") == "won")


def _ever_active() -> pl.Expr:
    """A line that ends on or before its start is never active (and is warned about already)."""
    return pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("start_date"))


# A row's hash over all its cells (``row_hash``), kept with the probe when the caller asks
# (``xsell validate``), so that the copy check needs no pass over the file of its own.
ROW_HASH = "__row_hash"


def row_hash(raw: RawTable) -> pl.Expr:
    """One hash over every cell of a row of ``raw.frame``, the cells past the header included
    (a ragged row, rejected, is no copy of a later row that has only its named cells). A typed
    Parquet column is hashed as it is (cells with the same text have the same value, and equal
    values hash alike, NaN and -0.0 included), not cast to text: 1.35 -> 0.5 CPU-s on the
    300k-account Parquet book."""
    keys = [pl.col(raw.column(i)) if _hashes_as_value(raw.dtype(i)) else raw.text(i) for i in range(len(raw.headers))]
    if EXTRA in raw.frame.collect_schema().names():
        keys.append(pl.col(EXTRA))
    return pl.struct(keys).hash(seed=0)


def duplicate_rows(raw: RawTable, hashed: pl.DataFrame | None = None) -> pl.LazyFrame:
    """(ROW, DUPLICATE_OF): each used row whose every cell repeats an earlier used row, and
    the first such row. Cells are compared as the file's text, so 1.0 and 1 differ.

    Rows that repeat every cell meet every row rule alike, so the first copy is used whenever
    a later one is: the copies are found over the file's rows, and the warning attaches to the
    used ones. A row hash finds the few rows that may repeat another; only those are compared
    cell by cell, so a collision never makes two different rows copies, and the text of the
    whole file is not held in memory (a window over every cell of 3 M rows took 4.8 GB).

    ``hashed``: (ROW, ROW_HASH) of every row of the file, already read (the probe's): when no
    two rows share a hash, which is every clean export's case, the file is not read again."""
    cells = [f"__cell{i}" for i in range(len(raw.headers))]
    none = pl.LazyFrame(schema={ROW: pl.Int64, DUPLICATE_OF: pl.Int64})
    if not cells:
        return none
    texts = [_cell(raw, i).alias(c) for i, c in enumerate(cells)]
    if EXTRA in raw.frame.collect_schema().names():
        cells.append("__extra")
        texts.append(pl.col(EXTRA).alias("__extra"))
    candidates: pl.LazyFrame
    if hashed is not None:
        found = hashed.filter(pl.col(ROW_HASH).is_duplicated()).select(pl.col(ROW).cast(pl.Int64))
        if found.is_empty():
            return none
        candidates = found.lazy()
    else:
        candidates = (
            raw.frame.select(pl.col(ROW).cast(pl.Int64), row_hash(raw).alias(ROW_HASH))
            .filter(pl.len().over(ROW_HASH) > 1)
            .select(ROW)
        )
    # Only the candidates are cast to text and compared.
    rows = raw.frame.with_columns(pl.col(ROW).cast(pl.Int64)).join(candidates, on=ROW, how="semi").select(ROW, *texts)
    first = pl.col(ROW).min().over(cells)
    return (
        rows.select(pl.col(ROW), first.alias(DUPLICATE_OF))
        .filter(pl.col(ROW) != pl.col(DUPLICATE_OF))
        .select(pl.col(ROW).cast(pl.Int64), pl.col(DUPLICATE_OF).cast(pl.Int64))
    )


def _cell(raw: RawTable, index: int) -> pl.Expr:
    """A cell as the copy check compares it: its text; a Parquet duration, which Polars cannot
    write as text, its value (two durations read alike exactly when they are equal)."""
    return pl.col(raw.column(index)) if isinstance(raw.dtype(index), pl.Duration) else raw.text(index)


def _hashes_as_value(dtype: pl.DataType) -> bool:
    """A typed column whose text is a function of its value alone (numbers, dates, booleans)."""
    return dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean


def concurrent_at_start(lines: pl.LazyFrame) -> pl.LazyFrame:
    """(ROW, CONCURRENT): for each won line that shares its account and product with another,
    the won lines of its account and product active on its start day, itself included (ties
    on one day: file order), when the book has any end date; no rows otherwise (a line
    alone of its pair has 1 at its start, and no warning).

    A sweep per account and product: +1 on each start, -1 on each end (ends first on a day,
    as end_date is exclusive), the running sum read at each start.
    """
    won = (
        lines.filter(_won() & _ever_active())
        .select(pl.col(ROW).cast(pl.Int64), "account_id", "product_id", "start_date", "end_date")
        .with_columns(pl.col("end_date").is_not_null().any().alias("__has_ends"))
        .filter(pl.col("__has_ends"))
        # A line alone of its account and product is active alone (1): only the pairs with
        # two lines or more are swept, and sorted (a sixteenth of the won lines of the
        # 300k-account book: the sort of every start and end took most of validate's checks).
        .filter(pl.len().over("account_id", "product_id") >= 2)
    )
    starts = won.select(
        "account_id", "product_id", pl.col("start_date").alias("__day"), pl.lit(1).alias("__step"), pl.col(ROW)
    )
    ends = won.filter(pl.col("end_date").is_not_null()).select(
        "account_id",
        "product_id",
        pl.col("end_date").alias("__day"),
        pl.lit(-1).alias("__step"),
        pl.lit(None, dtype=pl.Int64).alias(ROW),
    )
    return (
        pl.concat([starts, ends], how="vertical")
        .sort("account_id", "product_id", "__day", "__step", ROW, nulls_last=True)
        .with_columns(running(pl.col("__step"), "account_id", "product_id").alias(CONCURRENT))
        .filter(pl.col("__step") == 1)
        .select(ROW, pl.col(CONCURRENT).cast(pl.Int64))
    )


def held_at(lines: pl.LazyFrame, day: dt.date | None) -> pl.LazyFrame:
    """One row: how many account × product pairs hold a won line active on ``day`` (T), how
    many hold two or more at once, the most held at once, the pair holding it (first account,
    then its first product, on a tie) and the day (column ``as_of``).

    The day is a date, not a one-row frame crossed with the lines: Polars turns a cross join
    followed by comparisons into an inequality join, 6× slower (300k-account book: 3.0 against
    0.5 CPU-s); and the pair is read off the pairs holding the most, not off a sort of them all."""
    when = pl.lit(day, dtype=pl.Date)
    held = (
        lines.filter(
            _won()
            & (pl.col("booked_at") <= when)
            & (pl.col("start_date") <= when)
            & (pl.col("end_date").is_null() | (when < pl.col("end_date")))
        )
        .group_by("account_id", "product_id")
        .agg(pl.len().cast(pl.Int64).alias("held"))
    )
    most = pl.col("held") == pl.col("held").max()
    account = pl.col("account_id").filter(most).min()
    return held.select(
        pl.len().cast(pl.Int64).alias("pairs"),
        (pl.col("held") >= 2).sum().cast(pl.Int64).alias("overlapping"),
        pl.col("held").max().alias("most"),
        account.alias("account_id"),
        pl.col("product_id").filter(most & (pl.col("account_id") == account)).min().alias("product_id"),
        when.alias("as_of"),
    )
