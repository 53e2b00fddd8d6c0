"""Whitespace: what each customer does not own yet, scored and valued (SPEC §2 "whitespace").

For account a and every sellable family B it does not own at T:
  score           the estimated probability that a buys B next: for each family A that a
                  owns, attach_rate(A -> B) among customers of a's segment when that base has
                  at least min_base customers, else among all customers; the highest wins.
                  Forced-bundle pairs are no evidence.
  expected_value  score × typical ARR of B: the median amount of B's won lines among the
                  customers (at T) of a's segment, else among all customers, else the median
                  list price of B's products; empty when none is known.
  reason          the evidence in words: "owns Core; 35% of Core customers in Mid-Market
                  also own Analytics" (empty, and score 0, when no owned family has any).
  rank            1 = highest expected_value within the account (then score, then family).
Grain: one row per (customer, family not owned). Evidence always comes from the whole
book; ``accounts`` only chooses which accounts are listed.

Accounts with the same segment and the same set of owned families get the same scores
(a "signature"), so scores are computed once per signature, exactly, for every sellable
family, and then given to every account of it.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import polars as pl

from ..model import Model
from ..text import fmt
from .stats import fraction_mean, money_sum, ratio

Order = Literal["account", "value"]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

COLUMNS = ("account_id", "account_name", "family", "score", "expected_value", "reason", "rank")
_NO_SEGMENT = "\x00none"


def _customers(model: Model) -> pl.LazyFrame:
    """account_id, segment (a real segment, or _NO_SEGMENT), sig: one row per customer at T.

    The signature is the segment and the sorted set of owned items."""
    segments = model.accounts.select("account_id", "segment")
    return (
        model.ownership.group_by("account_id")
        .agg(pl.col("item").sort().str.join("\x1f").alias("owned_set"))
        .join(segments, on="account_id", how="left")
        .with_columns(pl.col("segment").fill_null(_NO_SEGMENT))
    )


def sellable_items(model: Model) -> pl.LazyFrame:
    """family: items that may be offered: a catalogue entry with a sellable product, or an item
    seen on won lines that the catalogue does not know (sellable by default)."""
    key = "product_id" if model.level == "product" else "family"
    catalogue = model.products.group_by(pl.col(key).alias("family")).agg(pl.col("sellable").any())
    seen = model.won.select(pl.col("item").alias("family")).unique()
    return (
        seen.join(catalogue, on="family", how="full", coalesce=True)
        .filter(pl.col("sellable").fill_null(True))
        .select("family")
    )


def evidence(model: Model, owned: pl.LazyFrame, *, min_base: int, forced: pl.LazyFrame | None) -> pl.LazyFrame:
    """segment, base, family, rate, scope: attach_rate(base -> family) among the segment's customers
    where that base has min_base of them (scope 'segment'), else among all customers ('all').

    ``owned``: account_id, item, segment. Every sellable family is a target, owned by anyone
    or not: 0 of a base owning it is evidence too (a 0% attach rate), not a missing value.
    """
    targets = sellable_items(model)
    pairs = owned.join(owned.select("account_id", pl.col("item").alias("family")), on="account_id").filter(
        pl.col("item") != pl.col("family")
    )
    seg_base = owned.group_by("segment", "item").agg(pl.len().alias("n"))
    seg_both = pairs.group_by("segment", "item", "family").agg(pl.len().alias("both"))
    all_base = seg_base.group_by("item").agg(pl.col("n").sum().alias("n_all"))
    all_both = seg_both.group_by("item", "family").agg(pl.col("both").sum().alias("both_all"))
    grid = (
        seg_base.join(targets, how="cross")
        .filter(pl.col("item") != pl.col("family"))
        .join(seg_both, on=["segment", "item", "family"], how="left")
        .join(all_base, on="item", how="left")
        .join(all_both, on=["item", "family"], how="left")
        .with_columns(pl.col("both").fill_null(0), pl.col("both_all").fill_null(0))
    )
    use_segment = (pl.col("n") >= min_base) & (pl.col("segment") != _NO_SEGMENT)
    rates = grid.select(
        "segment",
        pl.col("item").alias("base"),
        "family",
        pl.when(use_segment)
        .then(ratio(pl.col("both"), pl.col("n")))
        .otherwise(ratio(pl.col("both_all"), pl.col("n_all")))
        .alias("rate"),
        pl.when(use_segment).then(pl.lit("segment")).otherwise(pl.lit("all")).alias("scope"),
    )
    if forced is not None:
        rates = rates.join(
            forced.select(pl.col("base_family").alias("base"), "family"), on=["base", "family"], how="anti"
        )
    return rates


def typical_value(model: Model, segments: pl.LazyFrame) -> pl.LazyFrame:
    """segment, family, typical: median won-line amount among the segment's customers, else
    among all customers, else the median list price of the family's products.

    ``segments``: account_id, segment of every customer at T."""
    lines = model.won.select("account_id", pl.col("item").alias("family"), "amount").join(
        segments, on="account_id", how="inner"
    )
    # Accounts without a segment have no segment evidence: they use the whole book.
    by_segment = (
        lines.filter(pl.col("segment") != _NO_SEGMENT)
        .group_by("segment", "family")
        .agg(pl.col("amount").median().alias("seg_median"))
    )
    overall = lines.group_by("family").agg(pl.col("amount").median().alias("all_median"))
    key = "product_id" if model.level == "product" else "family"
    prices = model.products.group_by(pl.col(key).alias("family")).agg(pl.col("list_price").median().alias("list_price"))
    all_segments = segments.select("segment").unique()
    families = pl.concat([lines.select("family"), prices.select("family")]).unique()
    return (
        all_segments.join(families, how="cross")
        .join(by_segment, on=["segment", "family"], how="left")
        .join(overall, on="family", how="left")
        .join(prices, on="family", how="left")
        .with_columns(pl.coalesce("seg_median", "all_median", "list_price").alias("typical"))
        .select("segment", "family", "typical")
    )


def whitespace(
    model: Model,
    *,
    min_base: int,
    forced: pl.LazyFrame | None = None,
    accounts: pl.LazyFrame | None = None,
    order: Order = "account",
    top: int | None = None,
) -> pl.LazyFrame:
    """Scored whitespace rows (COLUMNS) for every customer (or those in ``accounts``).

    ``order`` "account": by account, then rank; "value": by expected_value (largest first,
    empty last), then account and family. ``top`` keeps the first rows of that order.
    """
    customers = _customers(model)
    owned = model.ownership.join(customers.select("account_id", "segment"), on="account_id")
    signatures = customers.select("segment", "owned_set").unique()
    bases = signatures.with_columns(pl.col("owned_set").str.split("\x1f").alias("base")).explode("base")
    rates = evidence(model, owned, min_base=min_base, forced=forced)
    candidates = signatures.join(sellable_items(model), how="cross").join(
        bases.select("segment", "owned_set", pl.col("base").alias("family")),
        on=["segment", "owned_set", "family"],
        how="anti",
    )
    ranked = ["rate", "base"]
    best = (
        candidates.join(bases, on=["segment", "owned_set"], how="left")
        .join(rates, on=["segment", "base", "family"], how="left")
        .group_by("segment", "owned_set", "family")
        .agg(
            pl.col("rate").max().alias("evidence"),
            pl.col("rate").max().fill_null(0.0).alias("score"),
            pl.col("base").sort_by(ranked, descending=[True, False], nulls_last=True).first(),
            pl.col("scope").sort_by(ranked, descending=[True, False], nulls_last=True).first(),
        )
    )
    typical = typical_value(model, customers.select("account_id", "segment"))
    scored = best.join(typical, on=["segment", "family"], how="left").with_columns(
        (pl.col("score") * pl.col("typical")).alias("expected_value")
    )
    listed = customers if accounts is None else customers.join(accounts, on="account_id", how="semi")
    names = model.accounts.select("account_id", "account_name")
    percent = (pl.col("score") * 100).round(0).cast(pl.Int64).cast(pl.String)
    scope = pl.when(pl.col("scope") == "segment").then(fmt(" in {}", pl.col("segment"))).otherwise(pl.lit(""))
    reason = pl.concat_str(
        [
            pl.lit("owns "),
            pl.col("base"),
            pl.lit("; "),
            percent,
            pl.lit("% of "),
            pl.col("base"),
            pl.lit(" customers"),
            scope,
            pl.lit(" also own "),
            pl.col("family"),
        ]
    )
    rows = (
        listed.join(scored, on=["segment", "owned_set"])
        .join(names, on="account_id", how="left")
        .with_columns(pl.when(pl.col("evidence").is_not_null()).then(reason).alias("reason"))
        .sort(
            ["account_id", "expected_value", "score", "family"], descending=[False, True, True, False], nulls_last=True
        )
        .with_columns(pl.int_range(1, pl.len() + 1).over("account_id").cast(pl.Int64).alias("rank"))
        .select(COLUMNS)
    )
    if order == "value":
        rows = rows.sort(["expected_value", "account_id", "family"], descending=[True, False, False], nulls_last=True)
    return rows if top is None else rows.head(top)


def by_family(rows: Frame) -> Frame:
    """Roll-up: family, non_owners (customers without it), whitespace_value (Σ expected value)."""
    return (
        rows.group_by("family")
        .agg(
            pl.len().cast(pl.Int64).alias("non_owners"),
            money_sum(pl.col("expected_value")).alias("whitespace_value"),
            fraction_mean(pl.col("score")).alias("mean_score"),
        )
        .sort(["whitespace_value", "family"], descending=[True, False])
    )
