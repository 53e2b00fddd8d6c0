"""Sparse co-occurrence: pairs of items that share a group (an account, a deal).

A group holding k items contributes k² pairs; nothing ever builds a groups × pairs grid.
The self-join runs on integer codes, one chunk of left-hand items at a time, with the
streaming engine, so memory stays flat however wide the book is (the UCI Online Retail
book has 48 million (customer, product, product) triples and 8.3 million distinct pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

# Joined rows one chunk may produce (a few integers each).
BUDGET = 16_000_000


def item_codes(items: pl.Series) -> pl.DataFrame:
    """(i, item) for the distinct items, numbered in sorted order: sorting codes sorts names."""
    return items.unique().sort().drop_nulls().to_frame("item").with_row_index("i")


def with_codes(frame: pl.LazyFrame, columns: dict[str, str]) -> pl.LazyFrame:
    """``frame`` with a u32 code per text column (``columns``: column -> code name); equal
    text, equal code; null stays null.

    A dictionary of each column's distinct values joined back: cheaper than a Categorical
    cast when the values are millions of account or contract ids.
    """
    for column, code in columns.items():
        values = frame.select(pl.col(column).unique().drop_nulls()).with_row_index(code)
        frame = frame.join(values, on=column, how="left", maintain_order="left")
    return frame


def self_join_pairs(
    left: pl.DataFrame,
    right: pl.DataFrame,
    *,
    group: str,
    keep: pl.Expr,
    aggregations: Sequence[pl.Expr],
    budget: int = BUDGET,
) -> pl.DataFrame:
    """``left ⋈ right`` on ``group``, filtered by ``keep``, grouped by (i, j) and aggregated.

    ``left`` has ``i`` (the left item code), ``right`` has ``j``; both have ``group``. The
    left items are taken in chunks of about ``budget`` joined rows, each collected with the
    streaming engine; chunks never share an i, so their results are simply stacked.
    """
    sizes = right.group_by(group).agg(pl.len().alias("__k"))
    work = (
        left.join(sizes, on=group)
        .group_by("i")
        .agg(pl.col("__k").sum().alias("__w"))
        .sort("i")
        .with_columns((pl.col("__w").cum_sum() // budget).alias("__chunk"))
        .group_by("__chunk", maintain_order=True)
        .agg(pl.col("i").min().alias("lo"), pl.col("i").max().alias("hi"))
    )
    # One u64 key groups faster than two u32 columns.
    width = int(right.select(pl.col("j").max()).item() or 0) + 1
    key = (pl.col("i").cast(pl.UInt64) * width + pl.col("j")).alias("__pair")
    parts = [
        left.lazy()
        .filter(pl.col("i").is_between(lo, hi))
        .join(right.lazy(), on=group)
        .filter(keep)
        .group_by(key)
        .agg(*aggregations)
        .collect(engine="streaming")
        for lo, hi in work.select("lo", "hi").iter_rows()
    ]
    if not parts:
        return left.lazy().join(right.lazy(), on=group).group_by("i", "j").agg(*aggregations).collect()
    pairs = pl.concat(parts, rechunk=True)
    return pairs.select(
        (pl.col("__pair") // width).cast(pl.UInt32).alias("i"),
        (pl.col("__pair") % width).cast(pl.UInt32).alias("j"),
        pl.exclude("__pair"),
    )
