"""Retention by the number of families owned (SPEC §2 "retention").

Cohort: accounts with ARR > 0 on S = T − window. Grouped by the number of families they
owned on S (``products_owned``: '1', '2', '3+', and 'all'): ``accounts``, ``start_arr``
(Σ ARR on S), ``end_arr`` (Σ ARR of the same accounts on T), ``logo_retention`` (share
still above 0 on T), ``grr`` = Σ min(ARR_T, ARR_S) / Σ ARR_S (never above 1), ``nrr`` =
end_arr / start_arr. ARR on a day is the sum of the amounts of the won lines active then.
"""

from __future__ import annotations

import polars as pl

from ..model import Model, active_at, as_of
from .stats import money_sum, ratio

BUCKETS = ("1", "2", "3+", "all")


def arr_by_account(model: Model, day: pl.Expr) -> pl.LazyFrame:
    """account_id, arr (Σ amount of won lines active on ``day``), items (families owned then).

    ``day`` is an expression over the won lines (T, or T − window)."""
    return (
        model.won.filter(active_at(day))
        .group_by("account_id")
        .agg(money_sum(pl.col("amount")).alias("arr"), pl.col("item").n_unique().alias("items"))
    )


def retention(model: Model, *, window_days: int) -> pl.LazyFrame:
    start = as_of() - pl.duration(days=window_days)
    at_start = arr_by_account(model, start).filter(pl.col("arr") > 0)
    at_end = arr_by_account(model, as_of()).select("account_id", pl.col("arr").alias("arr_end"))
    cohort = (
        at_start.join(at_end, on="account_id", how="left")
        .with_columns(pl.col("arr_end").fill_null(0.0))
        .with_columns(
            pl.when(pl.col("items") >= 3).then(pl.lit("3+")).otherwise(pl.col("items").cast(pl.String)).alias("bucket")
        )
    )
    both = pl.concat([cohort, cohort.with_columns(pl.lit("all").alias("bucket"))])
    stats = both.group_by("bucket").agg(
        pl.len().cast(pl.Int64).alias("accounts"),
        money_sum(pl.col("arr")).alias("start_arr"),
        money_sum(pl.col("arr_end")).alias("end_arr"),
        (pl.col("arr_end") > 0).sum().alias("__retained"),
        money_sum(pl.min_horizontal("arr", "arr_end")).alias("__kept"),
    )
    buckets = pl.LazyFrame({"bucket": list(BUCKETS), "__order": list(range(len(BUCKETS)))})
    return (
        buckets.join(stats, on="bucket", how="left")
        .with_columns(
            pl.col("accounts").fill_null(0),
            pl.col("start_arr").fill_null(0.0),
            pl.col("end_arr").fill_null(0.0),
        )
        .select(
            pl.col("bucket").alias("products_owned"),
            "accounts",
            "start_arr",
            "end_arr",
            ratio(pl.col("__retained"), pl.col("accounts")).alias("logo_retention"),
            ratio(pl.col("__kept"), pl.col("start_arr")).alias("grr"),
            ratio(pl.col("end_arr"), pl.col("start_arr")).alias("nrr"),
            "__order",
        )
        .sort("__order")
        .drop("__order")
    )
