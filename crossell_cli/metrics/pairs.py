"""Sparse co-occurrence: pairs of items that share a group (an account, a deal).

A group holding k items contributes k² pairs; nothing ever builds a groups × pairs grid.
The counts are symmetric, so a pair of two base items is joined once, as (a < b), and
mirrored; the join and the group-by stream, so memory stays near the number of distinct
pairs however wide the book is (the UCI Online Retail book has 48 million (customer,
product, product) triples and 8.3 million distinct pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    # small table of items: the pair join and group-by compare and hash integers rather than
    # names, and the marking replaces a semi-join and a left join of the whole ownership with
    # ``bases`` (300k-account benchmark book, bases with 10+ customers: 1.2-1.5 -> 1.0-1.1
    # CPU-s; five bases: 1.5 -> 0.5).
    items = owned.select("item").unique()
    if bases is None:
        items = items.with_columns(pl.lit(True).alias("__is_base"))
    else:
        marked = bases.select("item").unique().with_columns(pl.lit(True).alias("__is_base"))
        items = items.join(marked, on="item", how="left").with_columns(pl.col("__is_base").fill_null(False))
    items = items.sort("item").with_row_index("__code")
    coded = owned.join(items, on="item")
    left = coded.filter(pl.col("__is_base")).select(
        "account_id",
        pl.col("__code").alias("base"),
        pl.col("first_date").alias("d"),
        pl.col("first_contract").alias("c"),
    )
    right = coded.select(
        "account_id",
        pl.col("__code").alias("target"),
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
    columns = ("base", "target", "both_accounts", "co_booked", "cross_sold_after", "before")
    mirror = half.filter(pl.col("__target_is_base")).select(
        pl.col("target").alias("base"),
        pl.col("base").alias("target"),
        "both_accounts",
        "co_booked",
        pl.col("before").alias("cross_sold_after"),
        pl.col("cross_sold_after").alias("before"),
    )
    names = items.select("__code", "item")
    return (
        pl.concat([half.select(columns), mirror], how="vertical")
        .join(names.select(pl.col("__code").alias("base"), pl.col("item").alias("__base")), on="base")
        .join(names.select(pl.col("__code").alias("target"), pl.col("item").alias("__target")), on="target")
        .select(pl.col("__base").alias("base"), pl.col("__target").alias("target"), *columns[2:])
    )


def deal_pairs(deals: Sequence[tuple[pl.LazyFrame, Sequence[str]]], *, targets: pl.LazyFrame) -> pl.LazyFrame:
    """base, target, shared: for each target item (``targets``, a frame of ``item``) and each
    other item sharing a deal with it, how many of the target's lines sit on a deal that also
    holds the base.

    ``deals``: (deal items, key columns) per kind of deal; a deal items frame has the key
    columns, item and n (the item's lines on the deal). Keys compare nulls as equal.
    Only deals holding a target are paired, in one orientation (the target's lines): when
    the targets are a few items of many, that is a small part of all the deal's pairs.
    """
    wanted = targets.select(pl.col("item").alias("target"))
    shared = []
    for items, keys in deals:
        on_deal = items.select(*keys, pl.col("item").alias("target"), "n").join(wanted, on="target", how="semi")
        others = items.select(*keys, pl.col("item").alias("base"))
        shared.append(
            on_deal.join(others, on=list(keys), nulls_equal=True)
            .filter(pl.col("base") != pl.col("target"))
            .group_by("base", "target")
            .agg(pl.col("n").sum().alias("shared"))
        )
    return pl.concat(shared, how="vertical").group_by("base", "target").agg(pl.col("shared").sum())
