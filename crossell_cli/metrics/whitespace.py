"""Whitespace: what each customer does not own yet, scored, valued and explained (SPEC §2 "whitespace").

For account a and every sellable item B (a family, or a product at product level) it does not
own at T — every one of them, never a pruned subset:
  score           the probability that B is the next item a buys: the whitespace model of
                  ``choice.py`` (a conditional logit over popularity, recent demand, cross-sell
                  rates after the land bundle, item–item affinity and re-buys, fitted on the
                  book's own earlier snapshots).
  expected_value  score × typical ARR of B: the median amount of B's won lines among the
                  customers (at T) of a's segment, else among all customers, else the median
                  list price of B's products; empty when none is known.
  reason          the evidence in words, with its counts: "owns Core; 412 of 1,204 Mid-Market
                  Core customers bought Analytics later (34%)": the owned item with the highest
                  observed rate of later (after the land bundle) purchases of B, among bases of
                  at least min_base customers, in a's segment, else across the book. Forced-bundle
                  pairs are never evidence.
  rank            1 = highest score within the account (``order`` "value": highest
                  expected_value); ties by item name.
Grain: one row per (customer, item not owned). The evidence and the fit always come from the
whole book up to T; ``accounts`` only chooses which accounts are scored and listed.

Row order (a total order, so every run gives the same bytes): "score": score descending, then
account_id, then item; "value": expected_value descending (empty last), then score descending,
account_id, item; "account": account_id, then rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
import polars as pl

from ..model import Model
from ..runs import running
from . import choice
from .flags import thousands
from .stats import fraction_mean, money_sum

Order = Literal["account", "value", "score"]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

COLUMNS = ("account_id", "account_name", "family", "score", "expected_value", "reason", "rank")
PRODUCT_COLUMNS = ("account_id", "account_name", "family", "product_name", "score", "expected_value", "reason", "rank")
_NO_SEGMENT = "\x00none"
EVIDENCE = ("base", "base_bought", "base_customers", "base_segment")
HORIZON_DAYS = 180


def columns(level: str) -> tuple[str, ...]:
    """The output columns: at product level the product's name follows its id."""
    return PRODUCT_COLUMNS if level == "product" else COLUMNS


def empty(level: str) -> pl.LazyFrame:
    """No whitespace rows, with the columns and types of a scored result."""
    types = {"score": pl.Float64, "expected_value": pl.Float64, "rank": pl.Int64}
    return pl.LazyFrame(schema={c: types.get(c, pl.String) for c in columns(level)})


def scoring_rows(model: Model, accounts: pl.LazyFrame | None = None) -> int:
    """How many (customer, item) cells scoring takes: the customers listed (all: None) × the
    sellable items. Every row scoring can return is one of these cells, so it bounds the rows."""
    customers = model.customers.select("account_id")
    if accounts is not None:
        customers = customers.join(accounts, on="account_id", how="semi")
    got = pl.collect_all([customers.select(pl.len()), sellable_items(model).select(pl.len())])
    listed, offered = (int(frame.item() or 0) for frame in got)
    return listed * offered


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


def typical_values(model: Model) -> pl.DataFrame:
    """``typical_value`` over every customer at T, whoever is listed (what expected_value reads):
    a fact of the whole book, which a fit keeps (``Fitted.typical``) so a warm run need not
    group the book's lines again."""
    segment = model.accounts.select("account_id", pl.col("segment").cast(pl.String))
    customers = model.customers.join(segment, on="account_id", how="left").with_columns(
        pl.col("segment").fill_null(_NO_SEGMENT)
    )
    return typical_value(model, customers).collect()


def segments(model: Model) -> pl.DataFrame | None:
    """account_id, segment as known at T (None when the book has no segment)."""
    if "segment" not in model.accounts.collect_schema().names():
        return None
    frame = model.accounts.select("account_id", pl.col("segment").cast(pl.String)).collect()
    return frame if frame["segment"].drop_nulls().len() else None


def fit(
    model: Model, *, min_base: int, horizon_days: int = HORIZON_DAYS, ranked: Sequence[str] | None = None
) -> choice.Fitted | None:
    """The whitespace model fitted on the book up to T (None: no won line on or before T).

    ``ranked``: the items that may be offered (default: every sellable item); the fit learns to
    order exactly these, as the backtest's ``--active-days`` candidates are ordered."""
    as_of = model.as_of_frame.collect()
    when = as_of.item() if as_of.height else None
    if when is None:
        return None
    won = model.won.select(choice.LINE_COLUMNS).collect()
    items = model.items.collect()["item"].to_list()
    if ranked is None:
        ranked = sellable_items(model).collect()["family"].to_list()
    return choice.fit(
        won,
        segments(model),
        items=items,
        ranked=ranked,
        as_of=when,
        horizon=horizon_days,
        min_base=min_base,
        co_owned=model.dateless,
    )


def item_names(model: Model) -> pl.LazyFrame:
    """item, name: what a person calls the item (a product's name at product level)."""
    if model.level != "product" or "product_name" not in model.products.collect_schema().names():
        return model.products.select(pl.col("product_id").alias("item"), pl.col("product_id").alias("name")).head(0)
    return (
        model.products.filter(pl.col("product_name").is_not_null())
        .group_by(pl.col("product_id").alias("item"))
        .agg(pl.col("product_name").min().alias("name"))
    )


def whitespace(
    model: Model,
    *,
    min_base: int,
    forced: pl.LazyFrame | None = None,
    accounts: pl.LazyFrame | None = None,
    order: Order = "account",
    top: int | None = None,
    fitted: choice.Fitted | None = None,
    horizon_days: int = HORIZON_DAYS,
    max_rows: int | None = None,
    reasons: bool = True,
) -> pl.LazyFrame:
    """Scored whitespace rows (``columns(model.level)``) for every customer (or those in ``accounts``).

    ``fitted``: the model fitted on this book at T (``fit``); fitted here when not given.
    ``order``: see the module docstring; ``top`` keeps the first rows of that order, and only
    those rows get a reason built.
    ``max_rows``: when scoring would take more cells than this (``scoring_rows``), nothing is
    fitted or scored and the result is empty (``empty``): the caller says why.
    ``reasons``: False leaves reason empty and skips the evidence behind it (a roll-up needs
    only the scores and values).

    The cells are ranked, valued and put in order by position (customer and item numbers,
    numbered in name order), and the names and reasons are looked up by position last: a
    sort or join of millions of rows on names cost the 300k-account book most of its time.
    """
    if max_rows is not None and scoring_rows(model, accounts) > max_rows:
        return empty(model.level)
    if fitted is None:
        fitted = fit(model, min_base=min_base, horizon_days=horizon_days)
    if fitted is None:
        return empty(model.level)
    won = model.won
    if accounts is not None:
        won = won.join(accounts, on="account_id", how="semi")
    lines = won.select(choice.LINE_COLUMNS).collect()
    pairs: Sequence[tuple[str, str]] = ()
    if forced is not None:
        pairs = [(str(a), str(b)) for a, b in forced.select("base_family", "family").collect().iter_rows()]
    # With --top, the evidence behind reasons is found afterwards for the printed rows only.
    late = reasons and top is not None
    segs = segments(model)
    # An account's rows in the first ``top`` by score (or by account) are its own first ``top``
    # by score: the rest can neither print nor change a printed rank.
    keep = top if top is not None and order != "value" else None
    cells = choice.score_cells(
        fitted, lines, segs, forced=pairs, evidence=reasons and not late, keep=keep, whole_book=accounts is None
    )
    fitted.state = None  # read once (a second call builds it again): its frames need not outlive scoring
    if cells.frame.is_empty():
        return empty(model.level)
    frame = cells.frame.with_columns(_expected_value(model, cells, fitted.typical).alias("expected_value"))
    texts = None
    if reasons and not late:
        codes, texts = _distinct_reasons(frame["key"].to_numpy(), model, fitted, min_base=min_base, forced=pairs)
        frame = frame.with_columns(pl.Series("r", codes))
    frame = frame.drop("key")
    if order == "value":
        # rank by expected value within the account (empty last), then score, then item
        frame = frame.sort(
            ["a", "expected_value", "score", "i"], descending=[False, True, True, False], nulls_last=True
        ).with_columns(running(pl.repeat(1, pl.len(), dtype=pl.Int64), "a").alias("rank"))
        frame = frame.sort(["expected_value", "score"], descending=True, nulls_last=True, maintain_order=True)
    elif order == "score":
        frame = frame.sort("score", descending=True, maintain_order=True)
    # The cells are in (a, rank) order here, and the rank breaks ties by item: rows that tie on
    # the sort keys already stand in (a, i) order, so the stable sorts above end in a, then i
    # (a sort on one or two keys, where a third and fourth cost the 1 M book ~3 CPU-s).
    if top is not None:
        frame = frame.head(top)
    looked_up = _lookups(model, cells)
    if texts is not None:
        looked_up["reason"] = (texts, "r")
    rows = frame.lazy().select(
        *[
            pl.lit(looked_up[c][0]).gather(pl.col(looked_up[c][1])).alias(c)
            if c in looked_up
            else pl.col(c)
            if c != "reason"
            else pl.lit(None, dtype=pl.String).alias(c)
            for c in columns(model.level)
        ]
    )
    if late:
        return with_reasons(rows.collect(), model, fitted, min_base=min_base, forced=pairs, segs=segs)
    return rows


def _lookups(model: Model, cells: choice.Cells) -> dict[str, tuple[pl.Series, str]]:
    """What each named column reads, and by which position: account_id and account_name by
    customer (a), family and product_name by item (i)."""
    customers = cells.customers.select("account_id")
    names = customers.join(
        _of(model.accounts.select("account_id", "account_name"), customers),
        on="account_id",
        how="left",
        maintain_order="left",
    )
    items = cells.items.to_frame("item")
    product = items.join(item_names(model).collect(), on="item", how="left", maintain_order="left")
    return {
        "account_id": (customers["account_id"], "a"),
        "account_name": (names["account_name"], "a"),
        "family": (cells.items, "i"),
        "product_name": (product["name"], "i"),
    }


def _of(accounts: pl.LazyFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``accounts`` for the scored customers only (one, for --account)."""
    return accounts.join(scored.lazy(), on="account_id", how="semi").collect()


def _expected_value(model: Model, cells: choice.Cells, typical: pl.DataFrame | None = None) -> pl.Series:
    """score × the typical value of the item in the customer's segment (empty when none is known).
    ``typical``: ``typical_values(model)`` when already known (a fit carries them)."""
    segment = model.accounts.select("account_id", pl.col("segment").cast(pl.String))
    typical = typical if typical is not None else typical_values(model)
    # Each scored customer's segment by number, and (segment, item) -> typical as a table of
    # segments × items read by position.
    scored = cells.customers.select("account_id")
    segment_of = scored.join(_of(segment, scored), on="account_id", how="left", maintain_order="left")[
        "segment"
    ].fill_null(_NO_SEGMENT)
    levels = segment_of.unique().sort()
    code = segment_of.replace_strict(levels, range(levels.len()), return_dtype=pl.Int64).to_numpy()
    table = (
        levels.to_frame("segment")
        .with_row_index("s")
        .join(typical, on="segment", how="inner")
        .join(cells.items.to_frame("family").with_row_index("i"), on="family", how="inner")
    )
    values = np.full((levels.len(), cells.items.len()), np.nan)
    known = np.zeros(values.shape, dtype=bool)
    s, i = table["s"].to_numpy(), table["i"].to_numpy()
    values[s, i] = table["typical"].fill_null(np.nan).to_numpy()
    known[s, i] = table["typical"].is_not_null().to_numpy()
    row, item = code[cells.frame["a"].to_numpy()], cells.frame["i"].to_numpy()
    value = pl.Series("expected_value", cells.frame["score"].to_numpy() * values[row, item])
    return value.zip_with(pl.Series(known[row, item]), pl.Series([None], dtype=pl.Float64))


def _distinct_reasons(
    keys: np.ndarray, model: Model, fitted: choice.Fitted, *, min_base: int, forced: Sequence[tuple[str, str]] = ()
) -> tuple[np.ndarray, pl.Series]:
    """Each cell's reason as a position in the reasons written: one per distinct evidence key
    (the 300k-account book's 9.2 M cells cite a few thousand), written once."""
    cells = pl.DataFrame({"key": keys})
    distinct = cells["key"].unique().sort().to_frame().with_row_index("r")
    codes = cells.join(distinct, on="key", how="left", maintain_order="left")["r"].to_numpy()
    cited = choice.named_evidence(fitted, distinct["key"].to_numpy())
    texts = _reasons(cited.lazy(), model, min_base=min_base, forced=forced).collect()["reason"]
    return codes, texts


def by_score(rows: Frame) -> Frame:
    """Rows in the "score" order: score descending, then account_id, then item."""
    return rows.sort(["score", "account_id", "family"], descending=[True, False, False])


def top_by_score(rows: pl.LazyFrame | pl.DataFrame, n: int) -> pl.DataFrame:
    """``by_score(rows).head(n)`` without sorting every row: the order is total (one row per
    account and item), so the n first rows are the n largest by it, in any order, then sorted.

    ``rows`` may be a plan (the report's: the book's rows over its scored cells): only the
    score column is read in full, and only the top rows are built with their names."""
    rows = rows.lazy()
    score = pl.col("score")
    least, unordered = (
        rows.select(score.top_k(max(n, 1)).min().alias("least"), (score.is_null() | score.is_nan()).any().alias("odd"))
        .collect()
        .row(0)
    )
    if n <= 0 or unordered or least is None:
        return by_score(rows.top_k(n, by=["score", "account_id", "family"], reverse=[False, True, True])).collect()
    # Only rows scoring at least the n-th largest score can be among the first n (n rows score
    # that much or more): on the 300k-account book that is a few dozen of 9.2 M rows, sorted in
    # full, where a top_k on three keys compared every row by name (0.9 CPU s).
    return by_score(rows.filter(score >= least)).head(n).collect()


def with_reasons(
    rows: pl.DataFrame,
    model: Model,
    fitted: choice.Fitted,
    *,
    min_base: int,
    forced: Sequence[tuple[str, str]] = (),
    segs: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """``rows`` (scored whitespace rows, a few) with their reasons: the evidence is found for
    their accounts only, by scoring those accounts again with it."""
    segs = segments(model) if segs is None else segs
    accounts = rows["account_id"].unique().to_list()
    shown = model.won.filter(pl.col("account_id").is_in(accounts)).select(choice.LINE_COLUMNS).collect()
    cited = choice.score(fitted, shown, segs, forced=forced).select("account_id", "family", *EVIDENCE)
    bare = rows.drop("reason", "product_name", strict=False)
    found = bare.join(cited, on=["account_id", "family"], how="left", maintain_order="left").lazy()
    return _with_reason(found, model, min_base=min_base, forced=forced).select(columns(model.level))


def _with_reason(
    rows: pl.LazyFrame, model: Model, *, min_base: int, forced: Sequence[tuple[str, str]] = ()
) -> pl.LazyFrame:
    """reason (and product_name at product level), built only for the rows given.

    A reason is a function of its row's evidence (REASON_KEYS): it is written once per
    distinct evidence and joined back, not once per row (the 300k-account book's 9.2 M rows
    hold a few thousand distinct reasons; writing each row's took 13 of the whole book's 42
    CPU-s)."""
    written = _reasons(rows.select(REASON_KEYS).unique(), model, min_base=min_base, forced=forced)
    return rows.join(written, on=list(REASON_KEYS), how="left", nulls_equal=True, maintain_order="left")


# What a reason says: the item, and the owned base, counts and segment it cites.
REASON_KEYS = ("family", *EVIDENCE)


def _reasons(
    rows: pl.LazyFrame, model: Model, *, min_base: int, forced: Sequence[tuple[str, str]] = ()
) -> pl.LazyFrame:
    """REASON_KEYS, reason and product_name (at product level: None elsewhere). ``forced``:
    the (base, item) forced-bundle pairs, which are never evidence: a reason without a base
    names those into its item, since an account may own a base with customers enough whose
    only pair with the item is such a bundle."""
    noun = "product" if model.level == "product" else "family"
    names = item_names(model)
    # Items nobody bought by T: no popularity or sales to speak of, only the model's prior.
    sold = model.won.select(pl.col("item").alias("family")).unique().with_columns(pl.lit(True).alias("__sold"))
    rows = (
        rows.join(_forced_into(forced, names), on="family", how="left", maintain_order="left")
        .join(sold, on="family", how="left", maintain_order="left")
        .join(names.rename({"item": "family", "name": "product_name"}), on="family", how="left", maintain_order="left")
        .join(names.rename({"item": "base", "name": "base_name"}), on="base", how="left", maintain_order="left")
    )
    item = pl.coalesce("product_name", "family")
    base = pl.coalesce("base_name", "base")
    percent = (pl.col("base_bought") * 100 / pl.col("base_customers")).round(0).cast(pl.Int64).cast(pl.String)
    segment = (
        pl.when(pl.col("base_segment").is_not_null()).then(pl.col("base_segment") + pl.lit(" ")).otherwise(pl.lit(""))
    )
    cited = pl.concat_str(
        [
            pl.lit("owns "),
            base,
            pl.lit("; "),
            thousands(pl.col("base_bought")),
            pl.lit(" of "),
            thousands(pl.col("base_customers")),
            pl.lit(" "),
            segment,
            base,
            pl.lit(" customers also own " if model.dateless else " customers bought "),
            item,
            pl.lit(" (" if model.dateless else " later ("),
            percent,
            pl.lit("%)"),
        ]
    )
    bundles = pl.when(pl.col("forced_into").is_not_null()).then(
        pl.lit(" (") + pl.col("forced_into") + pl.lit(": a forced bundle, never evidence)")
    )
    none = pl.concat_str(
        [
            pl.lit(f"no owned {noun} with {min_base}+ customers to learn from"),
            bundles.otherwise(pl.lit("")),
            pl.when(pl.col("__sold"))
            .then(pl.lit("; scored on popularity and recent sales"))
            .otherwise(
                pl.lit(f"; no customer bought this {noun} by the as-of date: scored on the model's prior alone")
            ),
        ]
    )
    reason = pl.when(pl.col("base").is_not_null()).then(cited).otherwise(none)
    return rows.select(*REASON_KEYS, reason.alias("reason"), "product_name")


def _forced_into(forced: Sequence[tuple[str, str]], names: pl.LazyFrame, shown: int = 3) -> pl.LazyFrame:
    """family, forced_into: the forced-bundle pairs into each item as 'A → B' by name (the
    first ``shown`` by base, then how many more)."""
    pairs = pl.LazyFrame(
        {"base": [a for a, _ in forced], "family": [b for _, b in forced]},
        schema={"base": pl.String, "family": pl.String},
    )
    label = names.select("item", pl.col("name"))
    named = (
        pairs.join(label.rename({"item": "base", "name": "base_name"}), on="base", how="left")
        .join(label.rename({"item": "family", "name": "family_name"}), on="family", how="left")
        .with_columns(
            (pl.coalesce("base_name", "base") + pl.lit(" → ") + pl.coalesce("family_name", "family")).alias("pair")
        )
    )
    listed = pl.col("pair").sort_by("base")
    return named.group_by("family").agg(
        pl.when(pl.len() > shown)
        .then(listed.head(shown).str.join(", ") + pl.lit(" and ") + (pl.len() - shown).cast(pl.String) + " more")
        .otherwise(listed.str.join(", "))
        .alias("forced_into")
    )


def by_family(rows: Frame) -> Frame:
    """Roll-up: family, non_owners (customers without it), whitespace_value (Σ expected value)."""
    return (
        rows.group_by("family")
        .agg(
            pl.len().cast(pl.Int64).alias("non_owners"),
            # (empty, not 0, when no row of the family has a value: an export without amounts)
            pl.when(pl.col("expected_value").is_not_null().any())
            .then(money_sum(pl.col("expected_value")))
            .alias("whitespace_value"),
            fraction_mean(pl.col("score")).alias("mean_score"),
        )
        .sort(["whitespace_value", "mean_score", "family"], descending=[True, True, False], nulls_last=True)
    )


def attach_baseline(
    model: Model,
    *,
    min_base: int,
    forced: pl.LazyFrame | None = None,
    ranked: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """account_id, family, score: the ranking whitespace used before its model (kept as the
    backtest's "today's attach baseline"): for each family A the customer owns, attach_rate(A → B)
    among customers of its segment when that base has min_base of them, else among all customers;
    the highest wins (0 without evidence). Forced-bundle pairs are no evidence. ``ranked``: the
    items scored (default: every sellable one); ``only``: the accounts listed (default: all)."""
    as_of = model.as_of_frame.collect()
    when = as_of.item() if as_of.height else None
    if when is None:
        return pl.LazyFrame(schema={"account_id": pl.String, "family": pl.String, "score": pl.Float64})
    pairs: list[tuple[str, str]] = []
    if forced is not None:
        pairs = [(str(a), str(b)) for a, b in forced.select("base_family", "family").collect().iter_rows()]
    return choice.attach_scores(
        model.won.select(choice.LINE_COLUMNS).collect(),
        segments(model),
        items=model.items.collect()["item"].to_list(),
        ranked=sellable_items(model).collect()["family"].to_list() if ranked is None else ranked,
        as_of=when,
        min_base=min_base,
        forced=pairs,
        only=only,
    ).lazy()
