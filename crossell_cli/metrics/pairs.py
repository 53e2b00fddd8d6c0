"""Sparse co-occurrence: pairs of items that share a group (an account, a deal).

A group holding k items contributes k² pairs; nothing ever builds a groups × pairs grid.
Co-owned pairs are counted one of two exact ways, whichever is cheaper for the book:
- a self-join of the ownership on the account, then a group-by (this module). The counts
  are symmetric, so a pair of two base items is joined once, as (a < b), and mirrored;
- sparse matrix products (sparse_pairs.py), for accounts owning many items each of a wide
  catalogue (UCI Online Retail at product level: 48 million (customer, product, product)
  triples and 8.3 million distinct pairs; 6.7 CPU-s by the join, 1.8 by the products).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import polars as pl


def co_owned_pairs(owned: pl.LazyFrame, *, bases: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """base, target, both_accounts, co_booked, cross_sold_after, before for every ordered pair of
    items (base != target) at least one account owns together.

    ``owned``: account_id, item, first_date, first_contract (one row per account and item).
    ``bases`` (a frame of ``item``) limits the base items. co_booked: the target's first line was
    booked the same day or on the same contract as the base's first; cross_sold_after: later;
    before: earlier.
    """
    # Items as integer codes (in name order), each marked as a base or not by one join with the
    # small table of items: the counts compare and hash integers rather than names, and the
    # marking replaces a semi-join and a left join of the whole ownership with ``bases``.
    items = owned.select("item").unique()
    if bases is None:
        items = items.with_columns(pl.lit(True).alias("__is_base"))
    else:
        marked = bases.select("item").unique().with_columns(pl.lit(True).alias("__is_base"))
        items = items.join(marked, on="item", how="left").with_columns(pl.col("__is_base").fill_null(False))
    items = items.sort("item").with_row_index("__code")
    coded = owned.join(items, on="item").select(
        "account_id", pl.col("__code").alias("code"), "__is_base", "first_date", "first_contract"
    )
    names = items.select("__code", "item")
    return (
        coded.map_batches(_count_pairs, schema=_COUNTED)
        .join(names.select(pl.col("__code").alias("base"), pl.col("item").alias("__base")), on="base")
        .join(names.select(pl.col("__code").alias("target"), pl.col("item").alias("__target")), on="target")
        .select(pl.col("__base").alias("base"), pl.col("__target").alias("target"), *PAIR_COUNTS)
    )


PAIR_COUNTS = ("both_accounts", "co_booked", "cross_sold_after", "before")
_COUNTED = {"base": pl.UInt32, "target": pl.UInt32, **dict.fromkeys(PAIR_COUNTS, pl.Int64)}

# The sparse count is the cheaper one when the accounts own many items each from a wide
# catalogue. Measured on 1 M owned rows (CPU-s, join vs sparse): 32 items per account of 2 000,
# 4.6 vs 3.3; 16 of 2 000, 3.1 vs 3.4; 64 of 100, 1.3 vs 1.6; Online Retail (180 of 3 659),
# 6.7 vs 1.8 on 266 k rows.
SPARSE_WIDTH = 32.0
SPARSE_ITEMS = 1000


def _count_pairs(coded: pl.DataFrame) -> pl.DataFrame:
    """The pair counts of ``coded`` (account_id, code, __is_base, first_date, first_contract)
    by the cheaper of two exact methods, which give the same counts: a self-join of the
    ownership on the account, whose cost grows with the sum over accounts of n² (n: the items
    an account owns) and with the number of distinct pairs, or sparse matrix products, whose
    set-up grows with the rows."""
    n_items = coded.select(pl.col("code").cast(pl.Int64).max().fill_null(-1) + 1).item()
    if n_items >= SPARSE_ITEMS and _items_per_owner(coded) >= SPARSE_WIDTH:
        from .sparse_pairs import sparse_pair_counts  # numpy and scipy load only when used

        return sparse_pair_counts(coded, schema=_COUNTED)
    return joined_pair_counts(coded.lazy()).collect(engine="streaming")


def _items_per_owner(coded: pl.DataFrame, keys: Sequence[str] = ("account_id",)) -> float:
    """Σ n² / Σ n over the groups of ``keys`` (accounts, deals), n the rows of a group (the
    items it holds): how many items the group of a random row holds. On a large book, from
    the groups whose key hashes to one in sixteen (all rows of each)."""
    if coded.height > 200_000:
        coded = coded.filter(pl.struct(keys).hash() % 16 == 0)
    n = pl.col("len").cast(pl.Float64)
    width = coded.group_by(keys).len().select((n * n).sum() / n.sum()).item()
    return float(width) if width is not None else 0.0


def joined_pair_counts(coded: pl.LazyFrame) -> pl.LazyFrame:
    """The pair counts (``_COUNTED``) by joining the ownership with itself on the account."""
    left = coded.filter(pl.col("__is_base")).select(
        "account_id",
        pl.col("code").alias("base"),
        pl.col("first_date").alias("d"),
        pl.col("first_contract").alias("c"),
    )
    right = coded.select(
        "account_id",
        pl.col("code").alias("target"),
        pl.col("__is_base").alias("__target_is_base"),
        pl.col("first_date").alias("d_b"),
        pl.col("first_contract").alias("c_b"),
    )
    # A pair of two bases is counted once, as (a < b), and mirrored; a base and another item,
    # with the base first.
    keep = (pl.col("base") < pl.col("target")) | ((pl.col("base") != pl.col("target")) & ~pl.col("__target_is_base"))
    # fill_null: a missing contract on either side means "not the same contract", not unknown.
    same = (pl.col("d") == pl.col("d_b")) | (pl.col("c") == pl.col("c_b")).fill_null(False)
    half = (
        left.join(right, on="account_id")
        .filter(keep)
        .group_by("base", "target")
        .agg(
            pl.len().cast(pl.Int64).alias("both_accounts"),
            same.sum().cast(pl.Int64).alias("co_booked"),
            (~same & (pl.col("d_b") > pl.col("d"))).sum().cast(pl.Int64).alias("cross_sold_after"),
            pl.col("__target_is_base").first(),
        )
        .with_columns((pl.col("both_accounts") - pl.col("co_booked") - pl.col("cross_sold_after")).alias("before"))
    )
    # Both orientations from one computation of ``half``: an explicit cache, because Polars 2.1
    # shares a repeated subplan only at the top of a plan; exploding a two-struct list instead
    # cost 26 CPU-seconds on Online Retail's 8.3 M pairs, the cache about nothing.
    half = half.cache()
    mirror = half.filter(pl.col("__target_is_base")).select(
        pl.col("target").alias("base"),
        pl.col("base").alias("target"),
        "both_accounts",
        "co_booked",
        pl.col("before").alias("cross_sold_after"),
        pl.col("cross_sold_after").alias("before"),
    )
    return pl.concat([half.select(*_COUNTED), mirror], how="vertical")


def deal_pairs(deals: Sequence[tuple[pl.LazyFrame, Sequence[str]]], *, targets: pl.LazyFrame) -> pl.LazyFrame:
    """base, target, shared: for each target item (``targets``, a frame of ``item``) and each
    other item sharing a deal with it, how many of the target's lines sit on a deal that also
    holds the base.

    ``deals``: (deal items, key columns) per kind of deal; a deal items frame has the key
    columns, item and n (the item's lines on the deal). Keys compare nulls as equal.
    Only deals holding a target are paired, in one orientation (the target's lines): when
    the targets are a few items of many, that is a small part of all the deal's pairs.
    """
    marked = targets.select("item").unique().with_columns(pl.lit(True).alias("__target"))
    shared = [
        items.select(*keys, "item", pl.col("n").cast(pl.UInt32))
        .join(marked, on="item", how="left")
        .with_columns(pl.col("__target").fill_null(False))
        .map_batches(partial(_count_deal_pairs, keys=tuple(keys)), schema=_SHARED)
        for items, keys in deals
    ]
    return pl.concat(shared, how="vertical").group_by("base", "target").agg(pl.col("shared").sum())


_SHARED = {"base": pl.String, "target": pl.String, "shared": pl.UInt32}


def _count_deal_pairs(deal_items: pl.DataFrame, *, keys: tuple[str, ...]) -> pl.DataFrame:
    """``deal_pairs`` for one kind of deal (key columns, item, n, __target), by the cheaper way
    (see ``_count_pairs``): a self-join on the deal, or sparse products on a wide book."""
    n_items = deal_items["item"].n_unique()
    if n_items >= SPARSE_ITEMS and _items_per_owner(deal_items, keys) >= SPARSE_WIDTH:
        from .sparse_pairs import sparse_deal_pairs  # numpy and scipy load only when used

        return sparse_deal_pairs(deal_items, keys=keys, schema=_SHARED)
    return joined_deal_pairs(deal_items.lazy(), keys).collect(engine="streaming")


def joined_deal_pairs(deal_items: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """``_count_deal_pairs`` by joining the targets' deal lines with the deals' items."""
    on_deal = deal_items.filter(pl.col("__target")).select(*keys, pl.col("item").alias("target"), "n")
    others = deal_items.select(*keys, pl.col("item").alias("base"))
    return (
        on_deal.join(others, on=list(keys), nulls_equal=True)
        .filter(pl.col("base") != pl.col("target"))
        .group_by("base", "target")
        .agg(pl.col("n").sum().alias("shared"))
        .select(*_SHARED)
    )
