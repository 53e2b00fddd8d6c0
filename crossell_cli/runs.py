"""Running values within runs of equal keys, over rows sorted by those keys: linear scans.

A cumulative window (``cum_sum().over(keys)``) over millions of small groups costs several
times a sort; over sorted rows, where each key's rows are consecutive, a few passes down the
column give the same values. Integer inputs stay exact.
"""

from __future__ import annotations

import polars as pl


def starts(*keys: str) -> pl.Expr:
    """True on the first row of each run of equal ``keys``."""
    return ~pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys]).fill_null(False)


def running(values: pl.Expr, *keys: str) -> pl.Expr:
    """Running total of ``values`` within each run of ``keys`` (= ``values.cum_sum().over(keys)``;
    exact for integers: the book's running total less its value where the run begins)."""
    total = values.cum_sum()
    return total - pl.when(starts(*keys)).then(total - values).forward_fill()


def had_before(flag: pl.Expr, *keys: str) -> pl.Expr:
    """True when an earlier row of the same run of ``keys`` has ``flag``
    (= ``flag.shift(1).fill_null(False).cum_max().over(keys)``)."""
    run = starts(*keys).cast(pl.Int64).cum_sum()
    return (pl.when(flag).then(run).shift(1).forward_fill() == run).fill_null(False)
