"""Calendar and fiscal periods: which period a date falls in, its first day and its label.

Labels: '2024-Q1', '2024-01', '2024'. With ``fiscal_year_start_month`` m > 1, quarters and
years follow the fiscal year, which is named after the calendar year it ends in (a
fiscal year starting February 2024 is '2025'); months keep calendar labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from ..config import Period

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Calendar:
    period: Period = "quarter"
    fiscal_year_start_month: int = 1

    @property
    def months(self) -> int:
        return _MONTHS[self.period]

    @property
    def shift(self) -> int:
        """Months from January to the fiscal year's first month (0 for calendar periods)."""
        return 0 if self.period == "month" else self.fiscal_year_start_month - 1

    def index_of(self, date: dt.date) -> int:
        return (date.year * 12 + date.month - 1 - self.shift) // self.months

    def index_expr(self, date: pl.Expr) -> pl.Expr:
        """Period number of a date column (consecutive integers, comparable across years)."""
        month_index = date.dt.year().cast(pl.Int64) * 12 + date.dt.month().cast(pl.Int64) - 1
        return (month_index - self.shift) // self.months

    def start(self, index: int) -> dt.date:
        month_index = index * self.months + self.shift
        return dt.date(month_index // 12, month_index % 12 + 1, 1)

    def end(self, index: int) -> dt.date:
        return self.start(index + 1) - dt.timedelta(days=1)

    def label(self, index: int) -> str:
        first = self.start(index)
        if self.period == "month":
            return f"{first.year}-{first.month:02d}"
        # A fiscal year is named after the calendar year it ends in.
        fiscal_year = first.year + (1 if self.shift and first.month > self.shift else 0)
        if self.period == "year":
            return str(fiscal_year)
        quarter = ((first.month - 1 - self.shift) % 12) // 3 + 1
        return f"{fiscal_year}-Q{quarter}"

    # The same, as expressions over a period index column (for plans that only know T later).

    def start_expr(self, index: pl.Expr) -> pl.Expr:
        month_index = index * self.months + self.shift
        return pl.date(month_index // 12, month_index % 12 + 1, 1)

    def end_expr(self, index: pl.Expr) -> pl.Expr:
        return self.start_expr(index + 1) - pl.duration(days=1)

    def label_expr(self, index: pl.Expr) -> pl.Expr:
        month_index = index * self.months + self.shift
        year, month = month_index // 12, month_index % 12 + 1
        if self.period == "month":
            return pl.concat_str([year.cast(pl.String), pl.lit("-"), month.cast(pl.String).str.zfill(2)])
        # A fiscal year is named after the calendar year it ends in.
        fiscal_year = (year + ((month > self.shift) & (self.shift > 0)).cast(pl.Int64)).cast(pl.String)
        if self.period == "year":
            return fiscal_year
        quarter = ((month - 1 - self.shift) % 12) // 3 + 1
        return pl.concat_str([fiscal_year, pl.lit("-Q"), quarter.cast(pl.String)])

    def periods(self, bounds: pl.LazyFrame) -> pl.LazyFrame:
        """period_index, period, period_start for every period from ``first`` to ``last`` of the
        one-row ``bounds`` (none when first is null)."""
        return (
            bounds.filter(pl.col("first").is_not_null())
            .select(pl.int_ranges(pl.col("first"), pl.col("last") + 1, dtype=pl.Int64).alias("period_index"))
            .explode("period_index")
            .filter(pl.col("period_index").is_not_null())
            .with_columns(
                self.label_expr(pl.col("period_index")).alias("period"),
                self.start_expr(pl.col("period_index")).alias("period_start"),
            )
        )

    def frame(self, first: int, last: int) -> pl.DataFrame:
        """period_index, period, period_start for every period from first to last."""
        indexes = list(range(first, last + 1))
        return pl.DataFrame(
            {
                "period_index": indexes,
                "period": [self.label(i) for i in indexes],
                "period_start": [self.start(i) for i in indexes],
            },
            schema={"period_index": pl.Int64, "period": pl.String, "period_start": pl.Date},
        )
