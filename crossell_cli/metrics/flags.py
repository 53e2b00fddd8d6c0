"""Gaming flags (SPEC §2 "flags"). This module starts with forced bundles, which attach
and whitespace also use; the full ``xsell flags`` report builds on it."""

from __future__ import annotations

import polars as pl

from ..model import Model


def deal_key() -> pl.Expr:
    """The deal a line was booked on: its contract, or (account, day) without contract ids."""
    return pl.coalesce(
        pl.col("contract_id"),
        pl.concat_str([pl.lit("\x00day"), pl.col("account_id"), pl.col("booked_at").cast(pl.String)], separator="|"),
    )


def forced_bundles(model: Model, *, share: float, min_lines: int) -> pl.DataFrame:
    """Pairs (A, B) where B was sold on the same deal as A in >= ``share`` of B's won lines.

    Columns: base_family (A), family (B), b_lines (B's won lines), bundled_lines (of those,
    on a deal that also has an A line), share. Only B with at least ``min_lines`` lines.
    """
    lines = model.won.select("line_id", "item", deal_key().alias("deal"))
    per_item = lines.group_by("item").agg(pl.len().alias("b_lines"))
    deal_items = lines.select("deal", pl.col("item").alias("base_family")).unique()
    together = (
        lines.join(deal_items, on="deal")
        .filter(pl.col("base_family") != pl.col("item"))
        .group_by("item", "base_family")
        .agg(pl.col("line_id").n_unique().alias("bundled_lines"))
    )
    return (
        together.join(per_item, on="item")
        .with_columns((pl.col("bundled_lines") / pl.col("b_lines")).alias("share"))
        .filter((pl.col("b_lines") >= min_lines) & (pl.col("share") >= share))
        .select(
            "base_family",
            pl.col("item").alias("family"),
            pl.col("b_lines").cast(pl.Int64),
            pl.col("bundled_lines").cast(pl.Int64),
            "share",
        )
        .sort("base_family", "family")
        .collect()
    )
