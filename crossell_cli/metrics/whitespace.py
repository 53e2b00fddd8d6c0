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
  rank            1 = highest expected_value within the account.
Grain: one row per (customer, family not owned). Evidence always comes from the whole
book; filters only choose which accounts are listed.

Accounts with the same segment and the same set of owned families get the same scores,
so scores are computed once per such signature and then given to every account.
"""

from __future__ import annotations

import polars as pl

from ..model import Model
from .stats import ratio

COLUMNS = ("account_id", "account_name", "family", "score", "expected_value", "reason", "rank")
_NO_SEGMENT = "\x00none"
# Scoring every (account, owned family, candidate family) is exact but cubic: on a catalogue of
# thousands of products (a retailer's stock codes) it is billions of rows. Past this many,
# each owned family contributes only its TOP_TARGETS most attached families.
CANDIDATE_BUDGET = 20_000_000
TOP_TARGETS = 50


def _signatures(model: Model) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """(owned with segment, account -> signature id, signature id -> segment and each base).

    A signature is a segment plus a set of owned families; accounts sharing one get the same
    scores, so scoring happens once per signature (a handful on a family catalogue).
    """
    ownership = model.ownership()
    segments = model.accounts.lazy().select("account_id", pl.col("segment").fill_null(_NO_SEGMENT))
    owned = ownership.join(segments, on="account_id", how="left").with_columns(pl.col("segment").fill_null(_NO_SEGMENT))
    signatures = owned.group_by("account_id").agg(
        pl.col("segment").first(), pl.col("item").sort().str.join("\x1f").alias("owned_set")
    )
    ids = (
        signatures.select("segment", "owned_set").unique().sort("segment", "owned_set").with_row_index("sig", offset=1)
    )
    accounts = signatures.join(ids, on=["segment", "owned_set"]).select("account_id", "sig", "segment")
    bases = (
        ids.with_columns(pl.col("owned_set").str.split("\x1f").alias("base"))
        .explode("base")
        .select("sig", "segment", "base")
    )
    return owned, accounts, bases


def is_pruned(model: Model) -> bool:
    """True when the catalogue is too large to score every family for every account exactly."""
    bases = _signatures(model)[2].select(pl.len()).collect().item()
    families = _sellable_items(model).select(pl.len()).collect().item()
    return bool(bases * families > CANDIDATE_BUDGET)


def whitespace(
    model: Model,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Scored whitespace for every customer (or those in ``accounts``), ranked per account.

    On a catalogue too large to score exactly (``is_pruned``) an account lists only the
    families among the TOP_TARGETS most attached to one of the families it owns.
    """
    owned, people, bases = _signatures(model)
    sellable = _sellable_items(model)
    pruned = is_pruned(model)
    rates = _rates(owned, sellable, min_base=min_base, forced_pairs=forced_pairs, dense=not pruned)
    owned_by_sig = bases.select("sig", pl.col("base").alias("family"))
    if pruned:
        strongest = rates.filter(pl.col("rate") > 0).filter(
            pl.col("rate").rank("ordinal", descending=True).over("segment", "base") <= TOP_TARGETS
        )
        candidates = bases.join(strongest, on=["segment", "base"])
    else:
        candidates = bases.join(sellable, how="cross").join(rates, on=["segment", "base", "family"], how="left")
    candidates = candidates.join(owned_by_sig, on=["sig", "family"], how="anti")
    ranked = ["rate", "base"]
    best = candidates.group_by("sig", "segment", "family").agg(
        pl.col("rate").max().alias("evidence"),
        pl.col("rate").max().fill_null(0.0).alias("score"),
        pl.col("base").sort_by(ranked, descending=[True, False], nulls_last=True).first(),
        pl.col("scope").sort_by(ranked, descending=[True, False], nulls_last=True).first(),
    )
    typical = _typical_value(model, people.select("account_id", "segment"), owned.select("account_id", "item"))
    scored = best.join(typical, on=["segment", "family"], how="left").with_columns(
        (pl.col("score") * pl.col("typical")).alias("expected_value")
    )
    if accounts is not None:
        people = people.join(accounts.lazy().select("account_id"), on="account_id", how="semi")
    names = model.accounts.lazy().select("account_id", "account_name")
    percent = (pl.col("score") * 100).round(0).cast(pl.Int64).cast(pl.String)
    scope = pl.when(pl.col("scope") == "segment").then(pl.format(" in {}", pl.col("segment"))).otherwise(pl.lit(""))
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
    result = (
        people.join(scored.drop("segment"), on="sig")
        .join(names, on="account_id", how="left")
        .with_columns(pl.when(pl.col("evidence").is_not_null()).then(reason).alias("reason"))
        .sort(
            ["account_id", "expected_value", "score", "family"],
            descending=[False, True, True, False],
            nulls_last=True,
        )
        .with_columns(pl.int_range(1, pl.len() + 1).over("account_id").cast(pl.Int64).alias("rank"))
        .select(COLUMNS)
    )
    return result.collect()


def _rates(
    owned: pl.LazyFrame,
    targets: pl.LazyFrame,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | None,
    dense: bool = True,
) -> pl.LazyFrame:
    """attach_rate(base -> family) per segment where the segment base is >= min_base, else overall.

    Columns: segment, base, family, rate, scope ('segment' or 'all').
    """
    pairs = owned.join(owned.select("account_id", pl.col("item").alias("family")), on="account_id").filter(
        pl.col("item") != pl.col("family")
    )
    seg_base = owned.group_by("segment", "item").agg(pl.len().alias("n"))
    seg_both = pairs.group_by("segment", "item", "family").agg(pl.len().alias("both"))
    all_base = seg_base.group_by("item").agg(pl.col("n").sum().alias("n_all"))
    all_both = seg_both.group_by("item", "family").agg(pl.col("both").sum().alias("both_all"))
    # Every family that could be offered, owned by anyone or not: 0 of a base owning it is
    # evidence too (a 0% attach rate), not a missing value.
    if dense:
        grid = seg_base.join(targets, how="cross")
    else:  # only pairs someone owns together: the zeros are not worth a row each
        grid = seg_base.join(all_both.select("item", "family").join(targets, on="family", how="semi"), on="item")
    grid = grid.filter(pl.col("item") != pl.col("family"))
    grid = (
        grid.join(seg_both, on=["segment", "item", "family"], how="left")
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
    if forced_pairs is not None and not forced_pairs.is_empty():
        forced = forced_pairs.lazy().select(pl.col("base_family").alias("base"), "family")
        rates = rates.join(forced, on=["base", "family"], how="anti")
    return rates


def _sellable_items(model: Model) -> pl.LazyFrame:
    """Families (or products) that may be offered: a catalogue entry with a sellable product,
    or an item seen on won lines that the catalogue does not know (sellable by default)."""
    key = "product_id" if model.level == "product" else "family"
    catalogue = model.products.lazy().group_by(pl.col(key).alias("family")).agg(pl.col("sellable").any())
    seen = model.won.select(pl.col("item").alias("family")).unique()
    return (
        seen.join(catalogue, on="family", how="full", coalesce=True)
        .filter(pl.col("sellable").fill_null(True))
        .select("family")
    )


def _typical_value(model: Model, segments: pl.LazyFrame, ownership: pl.LazyFrame) -> pl.LazyFrame:
    """segment, family, typical: median won-line amount among the segment's customers, else
    among all customers, else the median list price of the family's products."""
    customers = ownership.select("account_id").unique()
    lines = (
        model.won.select("account_id", pl.col("item").alias("family"), "amount")
        .join(customers, on="account_id", how="semi")
        .join(segments, on="account_id", how="left")
        .with_columns(pl.col("segment").fill_null(_NO_SEGMENT))
    )
    # Accounts without a segment have no segment evidence: they use the whole book.
    by_segment = (
        lines.filter(pl.col("segment") != _NO_SEGMENT)
        .group_by("segment", "family")
        .agg(pl.col("amount").median().alias("seg_median"))
    )
    overall = lines.group_by("family").agg(pl.col("amount").median().alias("all_median"))
    key = "product_id" if model.level == "product" else "family"
    prices = (
        model.products.lazy()
        .group_by(pl.col(key).alias("family"))
        .agg(pl.col("list_price").median().alias("list_price"))
    )
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


def by_family(rows: pl.DataFrame) -> pl.DataFrame:
    """Roll-up: family, non_owners (customers without it), whitespace_value (Σ expected value)."""
    return (
        rows.group_by("family")
        .agg(
            pl.len().cast(pl.Int64).alias("non_owners"),
            pl.col("expected_value").sum().alias("whitespace_value"),
            pl.col("score").mean().alias("mean_score"),
        )
        .sort(["whitespace_value", "family"], descending=[True, False])
    )
