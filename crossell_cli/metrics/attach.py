"""Attach rates between items (SPEC §2 "attach").

For every ordered pair (A, B) of items, A != B, at T:
  base_accounts    customers owning A
  both_accounts    of those, the ones also owning B
  attach_rate      both_accounts / base_accounts (empty when the base is 0)
  ci_low, ci_high  95% Wilson interval of attach_rate
  target_accounts  customers owning B
  target_rate      target_accounts / customers
  lift             attach_rate / target_rate
  co_booked        both owners whose first B line was booked the same day or on the same
                   contract as their first A line
  cross_sold_after ... whose first B came later; before: ... earlier
  cross_sell_attach cross_sold_after / base_accounts (the share sales can claim)
  flag             forced_bundle when (A, B) is a forced bundle (see flags.forced_bundles)
Grain: one row per ordered pair, sorted by attach_rate (desc, empty last), base_accounts
(desc), then base and target names. The full list holds the pairs at least one customer
owns together; ``bases`` (--base, --matrix) lists every target of each base instead,
zeros included.

Headline: customers, multi_product_rate (customers owning 2+ items), items_per_customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import polars as pl

from ..model import Model, item_universe
from .pairs import co_owned_pairs
from .stats import ratio, wilson

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

PAIR_COLUMNS = (
    "base_family",
    "target_family",
    "base_accounts",
    "both_accounts",
    "attach_rate",
    "ci_low",
    "ci_high",
    "target_accounts",
    "target_rate",
    "lift",
    "co_booked",
    "cross_sold_after",
    "before",
    "cross_sell_attach",
    "flag",
)
_COUNTS = ("both_accounts", "co_booked", "cross_sold_after", "before")


def headline(ownership: pl.LazyFrame) -> pl.LazyFrame:
    """One row: customers, multi_product_rate (owning >= 2 items), items_per_customer.

    ``ownership``: one row per (account_id, item) owned at T (``Model.ownership`` or ``owned``)."""
    per_customer = ownership.group_by("account_id").agg(pl.len().alias("items"))
    return per_customer.select(
        pl.len().alias("customers"),
        (pl.col("items") >= 2).mean().alias("multi_product_rate"),
        pl.col("items").mean().alias("items_per_customer"),
    )


def owners(model: Model) -> pl.LazyFrame:
    """item, owners: customers owning it at T, for every item bought by T or in the catalogue."""
    # ``owned`` holds the same pairs as ``ownership``: attach reads it for its pairs anyway.
    counted = model.owned.group_by("item").agg(pl.len().alias("owners"))
    return (
        item_universe(model.won, model.catalogue, model.level)
        .join(counted, on="item", how="left")
        .with_columns(pl.col("owners").fill_null(0).cast(pl.Int64))
    )


def pair_counts(model: Model) -> pl.LazyFrame:
    """base, target and the co-owned counts of every pair (``co_owned_pairs``), computed once
    for the callers that pass them to ``attach_pairs`` as ``counted``."""
    return model.shared(co_owned_pairs(model.owned))


def chosen_bases(model: Model, names: Sequence[str]) -> pl.LazyFrame:
    """item: the items named (exactly, or else in any case), for --base."""
    items = item_universe(model.won, model.catalogue, model.level)
    exact = pl.col("item").is_in(list(names))
    folded = pl.col("item").str.to_lowercase().is_in([n.lower() for n in names])
    return items.filter(exact | (folded & ~exact.any()))


def attach_pairs(
    model: Model,
    *,
    forced: pl.LazyFrame | None = None,
    min_base: int | None = None,
    bases: pl.LazyFrame | None = None,
    counted: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """The pair list in its final order (PAIR_COLUMNS).

    ``min_base``: only bases with at least that many customers are computed (what a user
    sees without --all). ``bases`` (a frame of ``item``): one row per target of each base
    instead, zeros and items without owners included. ``forced`` (base_family, family):
    the forced-bundle pairs to mark. ``counted``: the pair counts of every base
    (``pair_counts``), for a caller that lists pairs twice (the report: the list and the
    matrix); a pair's counts do not depend on which other items are bases.
    """
    owned = model.owned
    counts = owners(model)
    customers = headline(owned).select("customers")
    base_filter = None
    if bases is not None:
        base_filter = bases
    elif min_base is not None:
        base_filter = counts.filter(pl.col("owners") >= min_base).select("item")
    if counted is None:
        pairs = co_owned_pairs(owned, bases=base_filter)
    elif base_filter is None:
        pairs = counted
    else:
        pairs = counted.join(base_filter.select(pl.col("item").alias("base")), on="base", how="semi")
    if bases is not None:  # one row per target, zeros included
        grid = (
            bases.select(pl.col("item").alias("base"))
            .join(counts.select(pl.col("item").alias("target")), how="cross")
            .filter(pl.col("base") != pl.col("target"))
        )
        pairs = grid.join(pairs, on=["base", "target"], how="left").with_columns(
            pl.col(c).fill_null(0) for c in _COUNTS
        )
    rows = (
        pairs.join(counts.select(pl.col("item").alias("base"), pl.col("owners").alias("base_accounts")), on="base")
        .join(counts.select(pl.col("item").alias("target"), pl.col("owners").alias("target_accounts")), on="target")
        .join(customers, how="cross")
    )
    flag = pl.lit(None, dtype=pl.String)
    if forced is not None:
        marks = forced.select(
            pl.col("base_family").alias("base"), pl.col("family").alias("target"), pl.lit(True).alias("__forced")
        )
        rows = rows.join(marks, on=["base", "target"], how="left")
        flag = pl.when(pl.col("__forced")).then(pl.lit("forced_bundle"))
    low, high = wilson(pl.col("both_accounts"), pl.col("base_accounts"))
    attach_rate = ratio(pl.col("both_accounts"), pl.col("base_accounts"))
    target_rate = ratio(pl.col("target_accounts"), pl.col("customers"))
    result = rows.select(
        pl.col("base").alias("base_family"),
        pl.col("target").alias("target_family"),
        pl.col("base_accounts"),
        pl.col("both_accounts").cast(pl.Int64),
        attach_rate.alias("attach_rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        pl.col("target_accounts"),
        target_rate.alias("target_rate"),
        ratio(attach_rate, target_rate).alias("lift"),
        pl.col("co_booked").cast(pl.Int64),
        pl.col("cross_sold_after").cast(pl.Int64),
        pl.col("before").cast(pl.Int64),
        ratio(pl.col("cross_sold_after"), pl.col("base_accounts")).alias("cross_sell_attach"),
        flag.alias("flag"),
    )
    if model.dateless:  # no dates: nothing to say about what came first
        result = result.with_columns(
            [pl.lit(None, dtype=pl.Int64).alias(c) for c in ("co_booked", "cross_sold_after", "before")]
            + [pl.lit(None, dtype=pl.Float64).alias("cross_sell_attach")]
        )
    # An attach rate is a fraction of two counts of at most a few million: two different
    # fractions never round to the same double, so the float orders them exactly.
    return result.sort(
        ["attach_rate", "base_accounts", "base_family", "target_family"],
        descending=[True, True, False, False],
        nulls_last=True,
    )


def visible_pairs(
    pairs: Frame,
    *,
    min_base: int,
    show_all: bool,
    exclude_bundles: bool = False,
) -> Frame:
    """The rows a user sees: min_base applied unless --all; --exclude-bundles."""
    out = pairs
    if not show_all:
        out = out.filter(pl.col("base_accounts") >= min_base)
    if exclude_bundles:
        out = out.filter(pl.col("flag").is_null())
    return out


def matrix(pairs: pl.DataFrame) -> pl.DataFrame:
    """A × B grid of attach_rate: one row per base item, one column per target item."""
    if pairs.is_empty():
        return pl.DataFrame(schema={"base_family": pl.String, "base_accounts": pl.Int64})
    items = sorted(set(pairs["base_family"].to_list()) | set(pairs["target_family"].to_list()))
    bases = pairs.select("base_family", "base_accounts").unique().sort("base_family")
    wide = pairs.pivot(on="target_family", index="base_family", values="attach_rate", aggregate_function=None)
    for item in items:
        if item not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(item))
    return bases.join(wide, on="base_family", how="left").select("base_family", "base_accounts", *items)
