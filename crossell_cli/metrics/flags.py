"""Gaming flags: the part of the cross-sell number that is not real (SPEC §2 "flags").

One row per finding, columns FLAG_COLUMNS; fields that do not apply are empty.

  pass_through       high    a cross-sell line priced at ≤ (1 − pass_through_discount) of its list
                             value, on the same deal as another family's line (a price cut booked
                             as attach). One row per line.
  forced_bundle      medium  family B sold on the same deal as A in ≥ forced_bundle_share of B's
                             won lines (at least min_base of them): every A customer "owns" B. One
                             row per pair (family = B, base_family = A).
  early_churn        medium  a cross-sold family whose lines all ended, on or before T, within
                             early_churn_days of its first start. One row per account × family,
                             with the cross-sell line's fields.
  premature          low     a cross-sell line booked within premature_days of land. When the
                             book's own median time to cross-sell (among the accounts cross-sold)
                             is under premature_days, coming that soon is how this book behaves,
                             not a finding: one book-level row with the counts instead.
  rep_concentration  medium  a rep whose share of flagged cross-sell lines is ≥ 2× the book's, with
                             ≥ 3 flagged lines. A cross-sell line is flagged when it is pass-through,
                             premature (only while premature is a signal: not when it is
                             book-level), or its family churned early. When the book's own share is
                             above 1/2 (1 / concentration_factor), no rep can be at 2× it: one
                             book-level row says so instead.
  price_erosion      medium  a family whose attach rose from the first half of the window to the
                             second while its realized price (Σ amount / Σ list_amount) fell by
                             ≥ 20%. Attach in a half = accounts that first bought the family in it /
                             customers at the half's start that did not own it; each half needs
                             min_base lines of the family with a list value.

A deal is the line's contract, or (account, day) when the export has no contract ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from ..config import Settings
from ..model import Model, active_at, as_of
from ..text import fmt
from .pairs import deal_pairs
from .stats import money_sum, ratio
from .timing import median_days_to_cross_sell

FLAG_COLUMNS = (
    "flag",
    "severity",
    "line_id",
    "account_id",
    "family",
    "base_family",
    "product_id",
    "rep",
    "contract_id",
    "booked_at",
    "amount",
    "list_amount",
    "discount",
    "detail",
)
# By default `xsell flags` lists this many findings (the first by severity, then amount): a
# list a person can read. --all-findings lists the rest.
SHOWN_BY_DEFAULT = 200
FLAGS = ("pass_through", "forced_bundle", "early_churn", "premature", "rep_concentration", "price_erosion")
SEVERITY = {"high": 0, "medium": 1, "low": 2}
# The flags that mark a cross-sell line (what `--by rep` counts), each with its bit in the
# line's ``flags`` mask and its severity; the others mark a pair, a rep or a family.
LINE_FLAGS = {"pass_through": (1, "high"), "early_churn": (2, "medium"), "premature": (4, "low")}
_SCHEMA = {
    "flag": pl.String,
    "severity": pl.String,
    "line_id": pl.String,
    "account_id": pl.String,
    "family": pl.String,
    "base_family": pl.String,
    "product_id": pl.String,
    "rep": pl.String,
    "contract_id": pl.String,
    "booked_at": pl.Date,
    "amount": pl.Float64,
    "list_amount": pl.Float64,
    "discount": pl.Float64,
    "detail": pl.String,
}


@dataclass(frozen=True)
class FlagSettings:
    pass_through_discount: float = 0.9
    forced_bundle_share: float = 0.95
    early_churn_days: int = 180
    premature_days: int = 90
    min_base: int = 10
    window_days: int = 365
    concentration_factor: float = 2.0
    concentration_min_lines: int = 3
    erosion_drop: float = 0.2

    @classmethod
    def of(cls, settings: Settings) -> FlagSettings:
        """The thresholds a run's settings give (config `thresholds:`, --min-base, --window)."""
        t = settings.thresholds
        return cls(
            pass_through_discount=t.pass_through_discount,
            forced_bundle_share=t.forced_bundle_share,
            early_churn_days=t.early_churn_days,
            premature_days=t.premature_days,
            min_base=settings.min_base,
            window_days=settings.window_days,
        )


DEAL = ("__deal_contract", "__deal_account", "__deal_day")


def deal_key() -> list[pl.Expr]:
    """The deal a line was booked on, as the columns DEAL: its contract, or (account, day) when
    it has no contract id. Join on DEAL with ``nulls_equal=True``."""
    no_contract = pl.col("contract_id").is_null()
    return [
        pl.col("contract_id").alias(DEAL[0]),
        pl.when(no_contract).then(pl.col("account_id")).alias(DEAL[1]),
        pl.when(no_contract).then(pl.col("booked_at")).alias(DEAL[2]),
    ]


FORCED_SCHEMA = {
    "base_family": pl.String,
    "family": pl.String,
    "b_lines": pl.Int64,
    "bundled_lines": pl.Int64,
    "share": pl.Float64,
}


def forced_bundles(model: Model, *, share: float, min_lines: int) -> pl.LazyFrame:
    """Pairs (A, B) where B was sold on the same deal as A in >= ``share`` of B's won lines.

    Columns: base_family (A), family (B), b_lines (B's won lines), bundled_lines (of those,
    on a deal that also has an A line), share. Only B with at least ``min_lines`` lines.
    """
    if model.dateless:  # a wide export has no deals: every line would share one
        return pl.LazyFrame(schema=FORCED_SCHEMA)
    deals = _multi_item_deals(model.won)
    b_lines = model.won.group_by("item").agg(pl.len().alias("b_lines"))
    # B's lines on a deal with A are among B's lines on a deal with any other item: only a B
    # with ``share`` of its lines on such deals can be a forced bundle, and only deals holding
    # one of those few B are paired up.
    with_others = (
        pl.concat([items.select("item", "n") for items, _ in deals], how="vertical")
        .group_by("item")
        .agg(pl.col("n").sum().alias("with_others"))
    )
    candidates = b_lines.join(with_others, on="item").filter(
        (pl.col("b_lines") >= min_lines) & (pl.col("with_others") / pl.col("b_lines") >= share)
    )
    return (
        deal_pairs(deals, targets=candidates.select("item"))
        .join(candidates.select(pl.col("item").alias("target"), "b_lines"), on="target")
        .with_columns((pl.col("shared") / pl.col("b_lines")).alias("share"))
        .filter((pl.col("b_lines") >= min_lines) & (pl.col("share") >= share))
        .select(
            pl.col("base").alias("base_family"),
            pl.col("target").alias("family"),
            pl.col("b_lines").cast(pl.Int64),
            pl.col("shared").cast(pl.Int64).alias("bundled_lines"),
            "share",
        )
        .sort("base_family", "family")
    )


def _multi_item_deals(won: pl.LazyFrame) -> list[tuple[pl.LazyFrame, list[str]]]:
    """The deals holding 2+ items, as (deal items, key columns) per kind of deal: contracts,
    and (account, day) for lines without a contract id. A deal items frame has the key
    columns, item and n (the item's lines on the deal: a deal with three lines of B is three
    of B's lines on a deal with A; every line counts once, a line is on one deal).

    Most deals of a book hold one line: they are dropped first by a count of lines, which is
    cheaper than counting every deal's items (a count over the deal, not a grouping joined
    back: 2.2 -> 1.7 s on the 1 M-account book's 6.7 M contract lines); keying each kind of
    deal by its own columns is cheaper than one three-column key (DEAL) that is two-thirds nulls.
    """
    has_contract = pl.col("contract_id").is_not_null()
    deals = []
    for lines, keys in (
        (won.filter(has_contract), ["contract_id"]),
        (won.filter(~has_contract), ["account_id", "booked_at"]),
    ):
        items = (
            lines.filter(pl.len().over(keys) >= 2)
            .group_by(*keys, "item")
            .agg(pl.len().alias("n"))
            .filter(pl.len().over(keys) >= 2)
        )
        # Read twice (the items' counts and the pairs): computed once.
        deals.append((items.cache(), keys))
    return deals


def _line_rows(frame: pl.LazyFrame, flag: str, severity: str, detail: pl.Expr) -> pl.LazyFrame:
    return frame.select(
        pl.lit(flag).alias("flag"),
        pl.lit(severity).alias("severity"),
        "line_id",
        "account_id",
        pl.col("item").alias("family"),
        pl.lit(None, dtype=pl.String).alias("base_family"),
        "product_id",
        "rep",
        "contract_id",
        "booked_at",
        "amount",
        "list_amount",
        "discount",
        detail.alias("detail"),
    )


def thousands(expr: pl.Expr) -> pl.Expr:
    """A number as people read it in a sentence: whole units, thousands separated (75800.0 → '75,800').

    Rounded half to even, like Python's ``f"{x:,.0f}"`` in the commands' notes.
    """
    units = expr.round(0).cast(pl.Int64)
    # Group the digits from the right: reverse, a comma after every three, reverse back.
    digits = (
        units.abs()
        .cast(pl.String)
        .str.reverse()
        .str.replace_all(r"(\d{3})", "${1},")
        .str.strip_suffix(",")
        .str.reverse()
    )
    return pl.when(units < 0).then(pl.lit("-") + digits).otherwise(digits)


def _general(expr: pl.Expr) -> pl.Expr:
    """A float as Python's '{:g}' writes it for the values here (60.0 → '60', 10.5 → '10.5')."""
    return expr.cast(pl.String).str.replace(r"\.0$", "")


def _percent(expr: pl.Expr) -> pl.Expr:
    """A share as '{:.1%}' writes it (0.6 → '60.0%')."""
    return fmt("{}%", (expr * 100).round(1))


def pass_through_lines(model: Model, *, discount: float) -> pl.LazyFrame:
    """Cross-sell lines at ≤ (1 − discount) of list, on a deal with another family's line."""
    realized = pl.col("amount") / pl.col("list_amount")
    deep = (pl.col("list_amount") > 0) & (realized <= 1 - discount + 1e-12)
    # The deep-discount cross-sells first (a handful), then the other families on their
    # deals (a contract may span accounts). Over a classification made already, both are
    # filters of it; otherwise only the deep-discount accounts' lines are classified.
    if model.classification_made:
        lines = model.classified.with_columns(deal_key())
        candidates = lines.filter((pl.col("kind") == "cross_sell") & deep)
    else:
        lines = model.won.with_columns(deal_key())
        accounts = model.won.filter(deep).select("account_id").unique()
        classified = model.classified_of(accounts)
        candidates = classified.filter((pl.col("kind") == "cross_sell") & deep).with_columns(deal_key())
    deal_items = lines.join(candidates.select(DEAL).unique(), on=DEAL, how="semi", nulls_equal=True).select(
        *DEAL, pl.col("item").alias("other")
    )
    others = (
        candidates.select("line_id", *DEAL, "item")
        .join(deal_items.unique(), on=DEAL, nulls_equal=True)
        .filter(pl.col("other") != pl.col("item"))
        .group_by("line_id")
        .agg(pl.col("other").unique().sort().str.join(", ").alias("others"))
    )
    return candidates.join(others, on="line_id", how="inner").with_columns(realized.alias("realized"))


def early_churned(model: Model, *, days: int) -> pl.LazyFrame:
    """Cross-sold (account, family) whose lines all ended on or before T within ``days`` of the first start,
    with the first cross-sell line's fields."""
    gone = model.item_history.select(
        "account_id", "item", "as_of", "landed_with", "first_start", "last_end", "all_ended"
    ).filter(
        ~pl.col("landed_with")
        & pl.col("all_ended")
        & (pl.col("last_end") <= pl.col("as_of"))
        & ((pl.col("last_end") - pl.col("first_start")).dt.total_days() <= days)
    )
    # Only the churned pairs' lines are sorted (a few, where sorting every cross-sell line
    # of the book took 5 of flags' 24 CPU seconds at 300 k accounts).
    first_line = (
        model.cross_sell_lines.join(gone.select("account_id", "item"), on=["account_id", "item"], how="semi")
        .sort("booked_at", "line_id")
        .group_by("account_id", "item", maintain_order=True)
        .first()
    )
    return gone.join(first_line, on=["account_id", "item"], how="inner")


def premature_lines(model: Model, *, days: int) -> pl.LazyFrame:
    return model.cross_sell_lines.filter((pl.col("booked_at") - pl.col("land_date")).dt.total_days() <= days)


def premature_verdict(model: Model, *, days: int) -> pl.LazyFrame:
    """One row: median_days, accounts (see timing.median_days_to_cross_sell) and book_level,
    true when that median is under ``days``: premature is then how the book behaves."""
    return median_days_to_cross_sell(model).with_columns(
        (pl.col("median_days").is_not_null() & (pl.col("median_days") < days)).alias("book_level")
    )


def _when(frame: pl.LazyFrame, verdict: pl.LazyFrame, condition: pl.Expr) -> pl.LazyFrame:
    """``frame``'s rows when the one-row ``verdict`` meets ``condition``, else none."""
    # (a column of the verdict, not a literal: selecting only a literal gives one row whatever
    # the frame's height)
    gate = verdict.filter(condition).select(pl.first().alias("__gate"))
    return frame.join(gate, how="cross").drop("__gate")


def flagged_premature_lines(model: Model, *, days: int, verdict: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """The premature lines that count as flagged: none when premature is book-level.
    ``verdict``: premature_verdict's row, when the caller has it already."""
    verdict = premature_verdict(model, days=days) if verdict is None else verdict
    return _when(premature_lines(model, days=days), verdict, ~pl.col("book_level"))


def _premature_book_row(model: Model, *, days: int, verdict: pl.LazyFrame) -> pl.LazyFrame:
    """One finding for the whole book, when premature is book-level (``verdict``: see
    premature_verdict): the median, and how many cross-sell lines came that soon (none when no
    line did)."""
    soon = (pl.col("booked_at") - pl.col("land_date")).dt.total_days() <= days
    counts = model.cross_sell_lines.select(
        pl.len().alias("lines"), soon.sum().alias("early"), money_sum(pl.col("amount").filter(soon)).alias("amount")
    )
    row = counts.join(verdict, how="cross").filter(pl.col("book_level") & (pl.col("early") > 0))
    return row.select(
        pl.lit("premature").alias("flag"),
        pl.lit("low").alias("severity"),
        "amount",
        pl.concat_str(
            [
                pl.lit("the book's median time to cross-sell is "),
                _general(pl.col("median_days")),
                pl.lit(" days (first cross-sell of its "),
                thousands(pl.col("accounts")),
                pl.lit(f" cross-sold accounts), under premature_days {days}: "),
                thousands(pl.col("early")),
                pl.lit(" of "),
                thousands(pl.col("lines")),
                pl.lit(f" cross-sell lines came within {days} days of land; premature is not a signal here"),
            ]
        ).alias("detail"),
    )


@dataclass(frozen=True)
class FlaggedLines:
    """The flagged lines that several outputs read (the findings, the rep concentration, the
    by-rep table), each an explicit cache: Polars 2.1 shares a repeated subplan only at the top
    of a plan, and a cache node is shared by every plan of one ``collect_all`` (without it
    `flags --by rep` and the report computed each of these twice: 300k-account book, by-rep's
    share of the report 1.4 -> 0.2 CPU s).

    ``cross_sells``: every cross-sell line with ``flagged`` (pass-through, premature while it is
    a signal, or of an early-churned family)."""

    passthrough: pl.LazyFrame
    churned: pl.LazyFrame
    verdict: pl.LazyFrame
    premature: pl.LazyFrame
    cross_sells: pl.LazyFrame


def flagged_lines(model: Model, settings: FlagSettings) -> FlaggedLines:
    s = settings
    passthrough = pass_through_lines(model, discount=s.pass_through_discount).cache()
    churned = early_churned(model, days=s.early_churn_days).cache()
    verdict = premature_verdict(model, days=s.premature_days).cache()
    premature = flagged_premature_lines(model, days=s.premature_days, verdict=verdict).cache()
    cross_sells = flagged_cross_sell_lines(model, passthrough, premature, churned).cache()
    return FlaggedLines(passthrough, churned, verdict, premature, cross_sells)


def flags(model: Model, settings: FlagSettings, lines: FlaggedLines | None = None) -> pl.LazyFrame:
    """Every finding, sorted by severity, then amount (largest first). ``lines``: the flagged
    lines, when the caller reads them for another output too (``by_rep``)."""
    s = settings
    lines = flagged_lines(model, s) if lines is None else lines
    passthrough, churned, verdict, premature = lines.passthrough, lines.churned, lines.verdict, lines.premature
    pct = ((1 - pl.col("realized")) * 100).round(0).cast(pl.Int64).cast(pl.String)
    pt_rows = _line_rows(
        passthrough,
        "pass_through",
        "high",
        fmt(
            "{}% off list ({} → {}) on {} with {}",
            pct,
            thousands(pl.col("list_amount")),
            thousands(pl.col("amount")),
            pl.coalesce(fmt("contract {}", pl.col("contract_id")), pl.lit("the same day")),
            pl.col("others"),
        ),
    )
    ec_rows = _line_rows(
        churned,
        "early_churn",
        "medium",
        fmt(
            "{} ended {}, {} days after it started",
            pl.col("item"),
            pl.col("last_end").cast(pl.String),
            (pl.col("last_end") - pl.col("first_start")).dt.total_days().cast(pl.String),
        ),
    )
    pm_lines = _line_rows(
        premature,
        "premature",
        "low",
        fmt(
            "booked {} days after land ({})",
            (pl.col("booked_at") - pl.col("land_date")).dt.total_days().cast(pl.String),
            pl.col("land_date").cast(pl.String),
        ),
    )
    pm_book = _premature_book_row(model, days=s.premature_days, verdict=verdict)
    bundles = forced_bundles(model, share=s.forced_bundle_share, min_lines=s.min_base)
    fb_rows = bundles.select(
        pl.lit("forced_bundle").alias("flag"),
        pl.lit("medium").alias("severity"),
        fmt(
            "{} sold on a {} deal in {}% of its {} lines: {} → {} attach is bundling, not selling",
            "family",
            "base_family",
            (pl.col("share") * 100).round(1).cast(pl.String),
            pl.col("b_lines").cast(pl.String),
            "base_family",
            "family",
        ).alias("detail"),
        "family",
        "base_family",
    )
    concentration = rep_concentration(lines.cross_sells, s)
    erosion = price_erosion(model, s)
    parts = [pt_rows, fb_rows, ec_rows, pm_lines, pm_book, concentration, erosion]
    combined = pl.union(
        [
            f.select(
                [
                    pl.col(c).cast(t) if c in f.collect_schema().names() else pl.lit(None, dtype=t).alias(c)
                    for c, t in _SCHEMA.items()
                ]
            )
            for f in parts
        ],
        how="vertical",
    )
    order = pl.col("severity").replace_strict(SEVERITY, return_dtype=pl.Int8)
    return (
        combined.with_columns(order.alias("__order"))
        .sort(
            ["__order", "amount", "flag", "account_id", "family", "base_family", "line_id", "rep", "detail"],
            descending=[False, True, False, False, False, False, False, False, False],
            nulls_last=True,
        )
        .drop("__order")
        .select(FLAG_COLUMNS)
    )


def flagged_cross_sell_lines(
    model: Model, passthrough: pl.LazyFrame, premature: pl.LazyFrame, churned: pl.LazyFrame
) -> pl.LazyFrame:
    """Every cross-sell line with ``flags`` (the LINE_FLAGS bits it carries: pass-through,
    early churn of its family, premature) and ``flagged`` (any of them)."""
    cross = model.cross_sell_lines
    churned_lines = cross.join(churned.select("account_id", "item"), on=["account_id", "item"], how="semi")
    marked = (
        pl.concat(
            [
                frame.select("line_id", pl.lit(LINE_FLAGS[name][0], dtype=pl.UInt8).alias("flags"))
                for name, frame in (
                    ("pass_through", passthrough),
                    ("early_churn", churned_lines),
                    ("premature", premature),
                )
            ]
        )
        .group_by("line_id")
        .agg(pl.col("flags").bitwise_or())
    )
    return cross.join(marked, on="line_id", how="left").with_columns(
        pl.col("flags").fill_null(0), pl.col("flags").is_not_null().alias("flagged")
    )


def line_flag_mask(names: Sequence[str] | None = None, severity: str | None = None) -> int:
    """The LINE_FLAGS bits that ``--flag`` names (all: None) at or above ``severity`` select."""
    return sum(
        bit
        for name, (bit, level) in LINE_FLAGS.items()
        if (not names or name in names) and (severity is None or SEVERITY[level] <= SEVERITY[severity])
    )


def by_rep(
    model: Model, settings: FlagSettings, lines: FlaggedLines | None = None, *, mask: int | None = None
) -> pl.LazyFrame:
    """Per rep: cross_sells, flagged, share_flagged, flagged_value (Σ amount of flagged lines).
    ``lines``: the flagged lines, when the caller reads them for the findings too. ``mask``:
    count as flagged only the lines with one of these LINE_FLAGS bits (``line_flag_mask``:
    what --flag and --severity choose; None: every line flag)."""
    lines = flagged_lines(model, settings) if lines is None else lines
    cross_sells = lines.cross_sells
    if mask is not None:
        cross_sells = cross_sells.with_columns(((pl.col("flags") & mask) != 0).alias("flagged"))
    return (
        cross_sells.group_by(pl.col("rep").fill_null("(none)"))
        .agg(
            pl.len().cast(pl.Int64).alias("cross_sells"),
            pl.col("flagged").sum().cast(pl.Int64).alias("flagged"),
            money_sum(pl.col("amount").filter(pl.col("flagged"))).alias("flagged_value"),
        )
        .with_columns(ratio(pl.col("flagged"), pl.col("cross_sells")).alias("share_flagged"))
        .select("rep", "cross_sells", "flagged", "share_flagged", "flagged_value")
        .sort(["share_flagged", "flagged", "rep"], descending=[True, True, False], nulls_last=True)
    )


def rep_concentration(cross_sells: pl.LazyFrame, s: FlagSettings) -> pl.LazyFrame:
    """Reps whose share of flagged cross-sell lines (``cross_sells``: FlaggedLines') is ≥ factor ×
    the book's; when the book's own share is above 1 / factor no rep can be, and one book-level
    row says so instead."""
    lines = cross_sells.filter(pl.col("rep").is_not_null())
    book = lines.select(
        pl.len().alias("total"),
        pl.col("flagged").sum().alias("book_flagged"),
        money_sum(pl.col("amount").filter(pl.col("flagged"))).alias("book_amount"),
    ).with_columns((pl.col("book_flagged") / pl.col("total")).alias("book_share"))
    out_of_reach = s.concentration_factor * pl.col("book_share") > 1
    # No rep can be at 2× a share above ½: "concentrated" would only repeat that the whole
    # book is flagged. One row says so, instead of none (or, near ½, nearly every rep).
    book_row = book.filter((pl.col("book_flagged") > 0) & out_of_reach).select(
        pl.lit("rep_concentration").alias("flag"),
        pl.lit("medium").alias("severity"),
        pl.col("book_amount").alias("amount"),
        pl.concat_str(
            [
                thousands(pl.col("book_flagged")),
                pl.lit(" of "),
                thousands(pl.col("total")),
                pl.lit(" cross-sell lines with a rep are flagged ("),
                _percent(pl.col("book_share")),
                pl.lit(
                    f"): no rep can be at {s.concentration_factor:g}× the book's share, so none is singled out; "
                    "the flags themselves are the finding"
                ),
            ]
        ).alias("detail"),
    )
    reps = lines.group_by("rep").agg(
        pl.len().alias("cross_sells"),
        pl.col("flagged").sum().alias("flagged"),
        money_sum(pl.col("amount").filter(pl.col("flagged"))).alias("amount"),
    )
    rep_rows = (
        reps.join(book.filter((pl.col("book_flagged") > 0) & ~out_of_reach), how="cross")
        .with_columns((pl.col("flagged") / pl.col("cross_sells")).alias("share"))
        .filter(
            (pl.col("flagged") >= s.concentration_min_lines)
            & (pl.col("share") >= s.concentration_factor * pl.col("book_share"))
        )
        .select(
            pl.lit("rep_concentration").alias("flag"),
            pl.lit("medium").alias("severity"),
            "rep",
            "amount",
            fmt(
                "{} of {} cross-sells flagged ({}%) vs {}% for the book",
                pl.col("flagged").cast(pl.String),
                pl.col("cross_sells").cast(pl.String),
                (pl.col("share") * 100).round(1).cast(pl.String),
                (pl.col("book_share") * 100).round(1).cast(pl.String),
            ).alias("detail"),
        )
    )
    return pl.union([rep_rows, book_row], how="diagonal")


def price_erosion(model: Model, s: FlagSettings) -> pl.LazyFrame:
    """Families whose attach rose between the window's halves while realized price fell ≥ 20%."""
    end = as_of()
    start = end - pl.duration(days=s.window_days)
    middle = start + pl.duration(days=s.window_days // 2)
    halves = [(start, middle), (middle, end)]
    items = model.won.select("item").unique()
    # Who owned what at each half's start, in one pass over the won lines (two distinct
    # (account, item) sets, one per start, cost a third of this flag).
    held_at = (
        model.won.filter(pl.any_horizontal([active_at(lo) for lo, _ in halves]))
        .group_by("account_id", "item")
        .agg([active_at(lo).any().alias(f"__at_{index}") for index, (lo, _) in enumerate(halves)])
        .cache()
    )
    # Each (account, item) first bought in the window.
    firsts = model.item_history.filter((pl.col("first_date") > start) & (pl.col("first_date") <= end)).select(
        "account_id", "item", "first_date", "as_of"
    )
    per_half = []
    for index, (lo, hi) in enumerate(halves):
        owners = held_at.filter(pl.col(f"__at_{index}")).select("account_id", "item")
        # The customers at lo are the accounts owning something at lo.
        customers = owners.select("account_id").unique()
        # Customers at lo not owning the item: every owner is a customer at lo, so this is a
        # subtraction, not a customers × items grid.
        held = owners.group_by("item").agg(pl.len().alias("held"))
        base = (
            items.join(held, on="item", how="left")
            .join(customers.select(pl.len().alias("customers")), how="cross")
            .select("item", (pl.col("customers") - pl.col("held").fill_null(0)).alias("base"))
        )
        buyers = (
            firsts.filter((pl.col("first_date") > lo) & (pl.col("first_date") <= hi))
            .join(customers, on="account_id", how="semi")
            .join(owners, on=["account_id", "item"], how="anti")
            .group_by("item")
            .agg(pl.len().alias("buyers"))
        )
        in_half = (pl.col("booked_at") > lo) & (pl.col("booked_at") <= hi) & (pl.col("list_amount") > 0)
        price = (
            model.won.filter(in_half)
            .group_by("item")
            .agg(
                (money_sum(pl.col("amount")) / money_sum(pl.col("list_amount"))).alias("price"),
                pl.len().alias("lines"),
            )
        )
        per_half.append(
            base.join(buyers, on="item", how="left")
            .join(price, on="item", how="left")
            .select(
                "item",
                ratio(pl.col("buyers").fill_null(0), pl.col("base")).alias(f"attach_{index}"),
                pl.col("price").alias(f"price_{index}"),
                pl.col("lines").fill_null(0).alias(f"lines_{index}"),
            )
        )
    dates = model.as_of_frame.select(
        start.cast(pl.String).alias("__start"),
        middle.cast(pl.String).alias("__middle"),
        end.cast(pl.String).alias("__end"),
    )
    both = per_half[0].join(per_half[1], on="item", how="inner").join(dates, how="cross")
    return both.filter(
        (pl.col("lines_0") >= s.min_base)
        & (pl.col("lines_1") >= s.min_base)
        & (pl.col("attach_1") > pl.col("attach_0"))
        & (pl.col("price_1") <= (1 - s.erosion_drop) * pl.col("price_0"))
    ).select(
        pl.lit("price_erosion").alias("flag"),
        pl.lit("medium").alias("severity"),
        pl.col("item").alias("family"),
        fmt(
            "attach {}% → {}% while realized price fell {} → {} of list ({}%), {} → {} vs {} → {}",
            (pl.col("attach_0") * 100).round(1).cast(pl.String),
            (pl.col("attach_1") * 100).round(1).cast(pl.String),
            pl.col("price_0").round(2).cast(pl.String),
            pl.col("price_1").round(2).cast(pl.String),
            ((pl.col("price_1") / pl.col("price_0") - 1) * 100).round(0).cast(pl.Int64).cast(pl.String),
            pl.col("__start"),
            pl.col("__middle"),
            pl.col("__middle"),
            pl.col("__end"),
        ).alias("detail"),
    )


def filter_findings(findings: pl.LazyFrame, *, names: list[str] | None, severity: str | None) -> pl.LazyFrame:
    out = findings
    if names:
        out = out.filter(pl.col("flag").is_in(names))
    if severity is not None:
        limit = SEVERITY[severity]
        out = out.filter(pl.col("severity").replace_strict(SEVERITY, return_dtype=pl.Int8) <= limit)
    return out


def fails(findings: pl.DataFrame, fail_on: str | None) -> bool:
    """True when a finding at or above ``fail_on`` severity exists (for --fail-on)."""
    if fail_on is None or findings.is_empty():
        return False
    limit = SEVERITY[fail_on]
    return bool((findings["severity"].replace_strict(SEVERITY, return_dtype=pl.Int8) <= limit).any())
