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
from typing import TypeVar

import polars as pl

from ..model import Model, item_universe
from .pairs import item_codes, self_join_pairs, with_codes
from .stats import ratio, ratio_to_constant, wilson

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


def encode(owned: pl.DataFrame, universe: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(a, i, d, c): account, item, first_date and first_contract as integers; and the item
    codes (i, item) of every item of the universe."""
    codes = item_codes(universe["item"])
    coded = (
        with_codes(owned.lazy(), {"account_id": "a", "first_contract": "c"})
        .join(codes.lazy(), on="item", how="left")
        .select("a", "i", pl.col("first_date").cast(pl.Int32).alias("d"), "c")
    )
    return coded.collect(), codes


def pair_counts(coded: pl.DataFrame, bases: pl.Series | None = None) -> pl.DataFrame:
    """i, j, both_accounts, co_booked, cross_sold_after, before for every pair of item codes
    (i != j) at least one account owns together; ``bases`` (item codes) limits i to those.

    Counts are symmetric (both and co_booked; after of (i, j) is before of (j, i)), so a
    pair of two base items is joined once, as i < j, and mirrored.
    """
    is_base = pl.lit(True) if bases is None else pl.col("i").is_in(bases.implode())
    coded = coded.with_columns(is_base.alias("base"))
    right = coded.select(
        "a", pl.col("i").alias("j"), pl.col("d").alias("d_b"), pl.col("c").alias("c_b"), pl.col("base").alias("j_base")
    )
    # fill_null: a missing contract on either side means "not the same contract", not unknown.
    same = (pl.col("d") == pl.col("d_b")) | (pl.col("c") == pl.col("c_b")).fill_null(False)
    half = self_join_pairs(
        coded.filter(pl.col("base")).select("a", "i", "d", "c"),
        right,
        group="a",
        keep=(pl.col("i") < pl.col("j")) | ((pl.col("i") != pl.col("j")) & ~pl.col("j_base")),
        aggregations=[
            pl.len().cast(pl.UInt32).alias("both_accounts"),
            same.sum().cast(pl.UInt32).alias("co_booked"),
            (~same & (pl.col("d_b") > pl.col("d"))).sum().cast(pl.UInt32).alias("cross_sold_after"),
            pl.col("j_base").first(),
        ],
    ).with_columns((pl.col("both_accounts") - pl.col("co_booked") - pl.col("cross_sold_after")).alias("before"))
    mirror = half.filter(pl.col("j_base")).select(
        pl.col("j").alias("i"),
        pl.col("i").alias("j"),
        "both_accounts",
        "co_booked",
        pl.col("before").alias("cross_sold_after"),
        pl.col("cross_sold_after").alias("before"),
    )
    return pl.concat([half.drop("j_base"), mirror], rechunk=True)


def attach(
    model: Model,
    *,
    forced_bundles: pl.DataFrame | None = None,
    min_base: int | None = None,
    bases: list[str] | None = None,
) -> tuple[pl.DataFrame, Headline]:
    """``attach_plan`` collected."""
    plan, headline = attach_plan(model, forced_bundles=forced_bundles, min_base=min_base, bases=bases)
    return plan.collect(), headline


def attach_plan(
    model: Model,
    *,
    forced_bundles: pl.DataFrame | None = None,
    min_base: int | None = None,
    bases: list[str] | None = None,
) -> tuple[pl.LazyFrame, Headline]:
    """The pair list (a lazy frame in its final order) and the headline.

    The list holds every ordered pair at least one customer owns together; a pair nobody
    owns together has attach_rate 0 and is left out (at product level that is most of the
    grid). With ``bases`` (--base) it holds one row per target item instead, zeros and
    items without owners included. With ``min_base``, only bases with at least that many
    customers are computed (what a user sees without --all).

    The counts are computed and put in order here, on integer codes; the rate and name
    columns are left to the plan, so a writer can stream millions of rows to a file
    without ever holding the full table.
    """
    ownership = model.ownership()
    owned_plan = ownership.join(model.first_purchases(), on=["account_id", "item"], how="left")
    universe_plan = item_universe(model.won, model.catalogue, model.level)
    owned, head, universe = pl.collect_all([owned_plan, headline_plan(ownership), universe_plan])
    row = head.row(0, named=True)
    headline = Headline(int(row["customers"]), row["multi_product_rate"], row["items_per_customer"])
    coded, codes = encode(owned, universe)
    # owners by item code (0 for catalogue items nobody owns)
    owners = (
        codes.join(coded.group_by("i").agg(pl.len().alias("owners")), on="i", how="left")
        .sort("i")["owners"]
        .fill_null(0)
        .cast(pl.Int64)
    )
    chosen: pl.Series | None = None
    if bases is not None:
        chosen = codes.filter(pl.col("item").is_in(bases))["i"]
    elif min_base is not None:
        chosen = codes["i"].filter(owners >= min_base)
    pairs = pair_counts(coded, chosen)
    if chosen is not None and bases is not None:  # one row per target, zeros included
        grid = (
            chosen.to_frame("i")
            .join(codes.select(pl.col("i").alias("j")), how="cross")
            .filter(pl.col("i") != pl.col("j"))
        )
        pairs = grid.join(pairs, on=["i", "j"], how="left", maintain_order="left").with_columns(
            pl.col(c).fill_null(0) for c in _COUNTS
        )
    pairs = _in_order(pairs, owners)
    names = codes["item"]
    flag = pl.lit(None, dtype=pl.String)
    if forced_bundles is not None and not forced_bundles.is_empty():
        marks = forced_bundles.join(codes.rename({"item": "base_family"}), on="base_family").join(
            codes.select(pl.col("item").alias("family"), pl.col("i").alias("j")), on="family"
        )
        keys = marks["i"].cast(pl.UInt64) * len(names) + marks["j"].cast(pl.UInt64)
        pair_key = pl.col("i").cast(pl.UInt64) * len(names) + pl.col("j").cast(pl.UInt64)
        flag = pl.when(pair_key.is_in(keys.implode())).then(pl.lit("forced_bundle"))
    plan = _with_rates(pairs.lazy(), owners, headline.customers, dateless=model.dateless).with_columns(
        pl.lit(names).gather(pl.col("i")).alias("base_family"),
        pl.lit(names).gather(pl.col("j")).alias("target_family"),
        flag.alias("flag"),
    )
    return plan.select(PAIR_COLUMNS), headline


def _in_order(pairs: pl.DataFrame, owners: pl.Series) -> pl.DataFrame:
    """The pairs in list order: attach_rate descending (empty last), then the base's
    customers descending, then base and target names (codes sort like names).

    Settled on integers before any rate column exists: an attach rate is a fraction of two
    counts, so the distinct fractions (a few thousand) are ranked once, and one u64 key
    (fraction rank, base rank, target) orders millions of rows in a single sort.
    """
    n_items = owners.len()
    in_base_order = owners.to_frame("o").with_row_index("i").sort(["o", "i"], descending=[True, False])["i"]
    base_rank = in_base_order.arg_sort().cast(pl.UInt64)  # item code -> its place in that order
    width = int(owners.to_frame().select(pl.all().max()).item() or 0) + 1
    fraction = pl.col("both_accounts").cast(pl.UInt64) * width + pl.lit(owners).gather(pl.col("i")).cast(pl.UInt64)
    keyed = pairs.lazy().with_columns(
        fraction.alias("__f"),
        (pl.lit(base_rank).gather(pl.col("i")) * n_items + pl.col("j").cast(pl.UInt64)).alias("__k"),
    )
    rate = pl.col("__f") // width / (pl.col("__f") % width)  # never null: 0/0 is NaN, x/0 is inf
    fractions = (
        keyed.select(pl.col("__f").unique())
        .with_columns(pl.when(rate.is_finite()).then(rate).alias("__r"))
        .with_columns(pl.col("__r").rank("dense", descending=True).fill_null(pl.len()).cast(pl.UInt64).alias("__rank"))
        .collect()
    )
    span = n_items * n_items
    rank = pl.col("__f").replace_strict(fractions["__f"], fractions["__rank"], return_dtype=pl.UInt64)
    top = int(fractions.select(pl.col("__rank").max()).item() or 0)
    if (top + 1) * span < 2**63:
        ordered = keyed.sort(rank * span + pl.col("__k"))
    else:  # pragma: no cover - more distinct rates than one key can hold
        ordered = keyed.sort([rank, pl.col("__k")])
    return ordered.drop("__f", "__k").collect()


_COUNTS = ("both_accounts", "co_booked", "cross_sold_after", "before")


def _with_rates(pairs: pl.LazyFrame, owners: pl.Series, customers: int, *, dateless: bool) -> pl.LazyFrame:
    """(i, j, counts) with the count and rate columns, row order kept; ``owners`` is indexed
    by item code. Only elementwise expressions: the plan streams."""
    grid = pairs.with_columns(
        pl.lit(owners).gather(pl.col("i")).alias("owners"),
        pl.lit(owners).gather(pl.col("j")).alias("target"),
        *[pl.col(c).cast(pl.Int64) for c in _COUNTS],
    )
    low, high = wilson(pl.col("both_accounts"), pl.col("owners"))
    attach_rate = ratio(pl.col("both_accounts"), pl.col("owners"))
    target_rate = ratio_to_constant(pl.col("target"), customers)
    result = grid.select(
        pl.col("i"),
        pl.col("j"),
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
    if dateless:  # no dates: nothing to say about what came first
        result = result.with_columns(
            [pl.lit(None, dtype=pl.Int64).alias(c) for c in ("co_booked", "cross_sold_after", "before")]
            + [pl.lit(None, dtype=pl.Float64).alias("cross_sell_attach")]
        )
    return result


def visible_pairs(
    pairs: Frame,
    *,
    min_base: int,
    show_all: bool,
    base: str | None = None,
    exclude_bundles: bool = False,
) -> Frame:
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
