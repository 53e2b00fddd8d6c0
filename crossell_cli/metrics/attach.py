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
Grain: one row per ordered pair, sorted by attach_rate (desc), base_accounts (desc), names.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..model import Model, item_universe
from .stats import ratio, wilson

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


@dataclass(frozen=True)
class Headline:
    customers: int
    multi_product_rate: float | None
    items_per_customer: float | None


def headline_plan(ownership: pl.LazyFrame) -> pl.LazyFrame:
    """One row: customers, multi_product_rate (owning >= 2 items), items_per_customer."""
    per_customer = ownership.group_by("account_id").agg(pl.len().alias("items"))
    return per_customer.select(
        pl.len().alias("customers"),
        (pl.col("items") >= 2).mean().alias("multi_product_rate"),
        pl.col("items").mean().alias("items_per_customer"),
    )


def pair_counts(ownership: pl.LazyFrame, firsts: pl.LazyFrame, bases: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """both / co_booked / after / before per (A, B) from the distinct (account, item) pairs.

    ``bases`` (item) limits A to those items: the work is the sum over accounts of
    (bases owned × items owned), not the square of what each account owns.
    """
    owned = ownership.join(firsts, on=["account_id", "item"], how="left")
    left = owned if bases is None else owned.join(bases, on="item", how="semi")
    other = owned.select(
        "account_id",
        pl.col("item").alias("item_b"),
        pl.col("first_date").alias("date_b"),
        pl.col("first_contract").alias("contract_b"),
    )
    pairs = left.join(other, on="account_id").filter(pl.col("item") != pl.col("item_b"))
    # fill_null: a missing contract on either side means "not the same contract", not unknown.
    same = (pl.col("first_date") == pl.col("date_b")) | (pl.col("first_contract") == pl.col("contract_b")).fill_null(
        False
    )
    return pairs.group_by("item", "item_b").agg(
        pl.len().alias("both_accounts"),
        same.sum().alias("co_booked"),
        (~same & (pl.col("date_b") > pl.col("first_date"))).sum().alias("cross_sold_after"),
        (~same & (pl.col("date_b") < pl.col("first_date"))).sum().alias("before"),
    )


def attach(
    model: Model,
    *,
    forced_bundles: pl.DataFrame | None = None,
    min_base: int | None = None,
    bases: list[str] | None = None,
) -> tuple[pl.DataFrame, Headline]:
    """Every ordered pair of the item universe and the headline.

    With ``min_base``, only pairs whose base has at least that many customers are computed
    (what a user sees without --all): on a catalogue of thousands of products the full
    list is millions of pairs, most of them with a base too small to say anything.
    ``bases`` limits the base items to those named (``--base``).
    """
    ownership = model.ownership()
    pairs_plan = _pairs_plan(model, ownership, forced_bundles, min_base, bases)
    pairs, head = pl.collect_all([pairs_plan, headline_plan(ownership)])
    row = head.row(0, named=True)
    return pairs, Headline(int(row["customers"]), row["multi_product_rate"], row["items_per_customer"])


def _pairs_plan(
    model: Model,
    ownership: pl.LazyFrame,
    forced_bundles: pl.DataFrame | None,
    min_base: int | None,
    only: list[str] | None,
) -> pl.LazyFrame:
    customers = ownership.select(pl.col("account_id").n_unique().alias("customers"))
    owners = ownership.group_by("item").agg(pl.len().alias("owners"))
    universe = item_universe(model.won, model.catalogue, model.level)
    bases = universe
    if only is not None:
        bases = bases.filter(pl.col("item").is_in(only))
    if min_base is not None:
        bases = bases.join(owners.filter(pl.col("owners") >= min_base), on="item", how="semi")
    restricted = only is not None or min_base is not None
    counts = pair_counts(ownership, model.first_purchases(), bases if restricted else None)
    grid = (
        bases.join(universe.select(pl.col("item").alias("item_b")), how="cross")
        .filter(pl.col("item") != pl.col("item_b"))
        .join(owners, on="item", how="left")
        .join(
            owners.select(pl.col("item").alias("item_b"), pl.col("owners").alias("target")),
            on="item_b",
            how="left",
        )
        .join(counts, on=["item", "item_b"], how="left")
        .join(customers, how="cross")
    )
    counts_cols = ["owners", "target", "both_accounts", "co_booked", "cross_sold_after", "before"]
    grid = grid.with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for c in counts_cols])
    low, high = wilson(pl.col("both_accounts"), pl.col("owners"))
    attach_rate = ratio(pl.col("both_accounts"), pl.col("owners"))
    target_rate = ratio(pl.col("target"), pl.col("customers"))
    result = grid.select(
        pl.col("item").alias("base_family"),
        pl.col("item_b").alias("target_family"),
        pl.col("owners").alias("base_accounts"),
        pl.col("both_accounts"),
        attach_rate.alias("attach_rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        pl.col("target").alias("target_accounts"),
        target_rate.alias("target_rate"),
        ratio(attach_rate, target_rate).alias("lift"),
        pl.col("co_booked"),
        pl.col("cross_sold_after"),
        pl.col("before"),
        ratio(pl.col("cross_sold_after"), pl.col("owners")).alias("cross_sell_attach"),
    )
    if model.dateless:  # no dates: nothing to say about what came first
        result = result.with_columns(
            [pl.lit(None, dtype=pl.Int64).alias(c) for c in ("co_booked", "cross_sold_after", "before")]
            + [pl.lit(None, dtype=pl.Float64).alias("cross_sell_attach")]
        )
    if forced_bundles is not None and not forced_bundles.is_empty():
        marks = forced_bundles.lazy().select(
            pl.col("base_family"),
            pl.col("family").alias("target_family"),
            pl.lit("forced_bundle").alias("flag"),
        )
        result = result.join(marks, on=["base_family", "target_family"], how="left")
    else:
        result = result.with_columns(pl.lit(None, dtype=pl.String).alias("flag"))
    return result.sort(
        ["attach_rate", "base_accounts", "base_family", "target_family"],
        descending=[True, True, False, False],
        nulls_last=True,
    ).select(PAIR_COLUMNS)


def visible_pairs(
    pairs: pl.DataFrame,
    *,
    min_base: int,
    show_all: bool,
    base: str | None = None,
    exclude_bundles: bool = False,
) -> pl.DataFrame:
    """The rows a user sees: min_base applied unless --all; --base; --exclude-bundles."""
    out = pairs
    if base is not None:
        out = out.filter(pl.col("base_family") == base)
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
