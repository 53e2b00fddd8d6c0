"""The headline KPIs next to published "good" ranges (SPEC §2 "summary"), window W:

  cross_sell_rate           customers at T with a cross-sell booked in (T − W, T] / customers at T   (15–30%)
  multi_product_rate        customers owning 2+ families / customers at T                          (40–60%)
  cross_sell_revenue_share  cross-sell amount / all won amount booked in (T − W, T]                 (20–40%)
  median_days_to_cross_sell Kaplan–Meier median days from land to first cross-sell (all time)      (180–365)
  cross_sell_win_rate       won / (won + lost) cross-sell lines closed in (T − W, T]                (30–50%)

A lost line is a cross-sell attempt when the account had landed before it closed and had not
bought that family before. Grain: one row per KPI with value, good_low, good_high, status
('below', 'within', 'above', or empty when there is no value) and a detail in words.

The good ranges are B2B SaaS benchmarks for product families on subscription books. Where
they do not apply, ``status`` says so instead of judging: 'n/a at product level' (a tier or
an add-on is a product of its own, so every rate means something else), and 'n/a: not a
subscription book' for a book that plainly is not one (``benchmark_caveat``): no line has an
end date, and accounts buy the same family again within a quarter at the median
(replenishment, as in retail or e-commerce, where a subscription renews once a term); and
'n/a: one family in the book' when the customers own one family between them (RavenStack's
config folds its tiers into one), where no customer can buy a second.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ..model import Model, as_of
from .attach import headline
from .periods import Calendar
from .stats import money_sum
from .timing import timing

GOOD: dict[str, tuple[float, float]] = {
    "cross_sell_rate": (0.15, 0.30),
    "multi_product_rate": (0.40, 0.60),
    "cross_sell_revenue_share": (0.20, 0.40),
    "median_days_to_cross_sell": (180.0, 365.0),
    "cross_sell_win_rate": (0.30, 0.50),
}
COLUMNS = ("kpi", "value", "good_low", "good_high", "status", "detail")
# A subscription is bought again at renewal, once a term (a quarter at the shortest); seat
# add-ons come between renewals, not every few weeks. A median re-buy gap shorter than this
# is replenishment buying.
REBUY_DAYS = 90
NOT_AT_PRODUCT_LEVEL = "n/a at product level"
NOT_SUBSCRIPTIONS = "n/a: not a subscription book"
_SCHEMA = {
    "kpi": pl.String,
    "value": pl.Float64,
    "good_low": pl.Float64,
    "good_high": pl.Float64,
    "status": pl.String,
    "detail": pl.String,
}


def summary_parts(
    model: Model,
    *,
    window_days: int,
    premature_days: int,
    early_churn_days: int,
) -> dict[str, pl.LazyFrame]:
    """The small frames the KPIs are read from, to collect together (``summary`` assembles them)."""
    since = as_of() - pl.duration(days=window_days)

    def in_window(day: str) -> pl.Expr:
        return (pl.col(day) > since) & (pl.col(day) <= as_of())

    # The window's cross-sell lines: its won lines on a family's cross-sell day (off the item
    # histories, no line classified for the summary; classifying every won line and holding
    # it in memory cost 0.8 s at 300 k accounts).
    cross_days = model.cross_sell_days.filter(in_window("booked_at")).select("account_id", "item", "booked_at")
    crossed = cross_days.select("account_id").unique()
    won_in_window = model.won.filter(in_window("booked_at"))
    cross_lines = won_in_window.join(cross_days, on=["account_id", "item", "booked_at"], how="semi")
    overall = timing(
        model,
        by=None,
        calendar=Calendar(),
        premature_days=premature_days,
        early_churn_days=early_churn_days,
    )
    return {
        "head": headline(model.ownership),
        "crossed": model.customers.join(crossed, on="account_id", how="semi").select(pl.len().alias("crossed")),
        "revenue": pl.concat(
            [
                cross_lines.select(
                    money_sum(pl.col("amount")).alias("cross_amount"), pl.len().alias("won_cross_lines")
                ),
                won_in_window.select(money_sum(pl.col("amount")).alias("won_amount")),
            ],
            how="horizontal",
        ).select("cross_amount", "won_amount", "won_cross_lines"),
        "lost": _lost_cross_sell_lines(model, in_window("booked_at")),
        "timing": overall,
        "rebuy": median_rebuy_days(model),
        "end_dates": model.has_end_dates,
        # (one item in the whole book: no customer can buy a second, and no rate is a verdict)
        "items": model.ownership.select(pl.col("item").n_unique().alias("items")),
    }


def median_rebuy_days(model: Model) -> pl.LazyFrame:
    """One row: gap, the median days between an account's consecutive purchase days of the same
    family (won lines booked by T); null when no account bought a family on two days."""
    # Sorted, each (account, family)'s days are consecutive rows: a gap is a row's difference
    # to the row before it when both belong to the same pair (a diff over the pairs as window
    # groups costs 7× as much: millions of two-row groups).
    same = (pl.col("account_id") == pl.col("account_id").shift(1)) & (pl.col("item") == pl.col("item").shift(1))
    # Only the pairs bought on more than one day have a gap: those whose last day is after their
    # first (the item histories say which; sorting every won line cost 0.8 CPU s at 300 k
    # accounts; this sorts the lines of the few pairs bought again).
    again = model.item_history.filter(pl.col("last_date") > pl.col("first_date")).select("account_id", "item")
    days = model.won.join(again, on=["account_id", "item"], how="semi").select("account_id", "item", "booked_at")
    return (
        days.unique()
        .sort("account_id", "item", "booked_at")
        .select(pl.when(same).then(pl.col("booked_at").diff()).dt.total_days().alias("gap"))
        .select(pl.col("gap").median().cast(pl.Float64))
    )


def benchmark_caveat(
    level: str, *, dateless: bool, end_dates: bool, rebuy_days: float | None, items: int | None = None
) -> tuple[str, str] | None:
    """(status, why) when the good ranges do not apply to this book at this level, else None."""
    if items == 1:
        noun, nouns = ("product", "products") if level == "product" else ("family", "families")
        return f"n/a: one {noun} in the book", (
            f"the customers at the as-of date own one {noun} between them, so none can buy a second: every "
            f"cross-sell KPI is 0 or empty by construction (a config that folds tiers into one family, or a "
            f"single-product book); the good ranges describe books of several {nouns}"
        )
    if level == "product":
        return NOT_AT_PRODUCT_LEVEL, (
            "the good ranges are B2B SaaS benchmarks for product families; at product level a tier or an "
            "add-on counts as a product of its own"
        )
    if dateless or end_dates or rebuy_days is None or rebuy_days >= REBUY_DAYS:
        return None
    return NOT_SUBSCRIPTIONS, (
        f"the good ranges describe subscription books; this one has no end dates and accounts buy the same "
        f"family again every {rebuy_days:g} days at the median (replenishment, not renewal)"
    )


def caveat_of(parts: dict[str, pl.DataFrame], *, level: str, dateless: bool) -> tuple[str, str] | None:
    """``benchmark_caveat`` from the collected ``summary_parts``."""
    rebuy = parts["rebuy"].item() if parts["rebuy"].height else None
    end_dates = bool(parts["end_dates"].item()) if parts["end_dates"].height else False
    items = parts["items"].item() if "items" in parts and parts["items"].height else None
    return benchmark_caveat(level, dateless=dateless, end_dates=end_dates, rebuy_days=rebuy, items=items)


def summary(
    parts: dict[str, pl.DataFrame],
    *,
    window_days: int,
    has_stage: bool,
    dateless: bool,
    level: str = "family",
) -> pl.DataFrame:
    """One row per KPI (COLUMNS) from the collected ``summary_parts``."""
    head, crossed_n, revenue, lost = (parts[k].row(0, named=True) for k in ("head", "crossed", "revenue", "lost"))
    landed = parts["timing"]
    # No won line at all (a book of lost deals): nobody landed, nothing to time.
    overall = landed.row(0, named=True) if landed.height else dict.fromkeys(landed.columns)

    rows: list[dict[str, Any]] = []
    caveat = caveat_of(parts, level=level, dateless=dateless)
    noun, nouns = ("product", "products") if level == "product" else ("family", "families")

    def add(kpi: str, value: float | None, detail: str) -> None:
        low, high = GOOD[kpi]
        status = None if value is None else ("below" if value < low else "above" if value > high else "within")
        if value is not None and caveat is not None:
            status = caveat[0]
        rows.append(
            {
                "kpi": kpi,
                "value": value,
                "good_low": low,
                "good_high": high,
                "status": status,
                "detail": detail,
            }
        )

    n_customers = head["customers"] or 0
    if dateless:  # a wide export: who owns what, nothing about when or how much
        add("cross_sell_rate", None, "needs dates")
        add(
            "multi_product_rate",
            head["multi_product_rate"],
            f"customers owning 2+ {nouns}; {head['items_per_customer'] or 0:.2f} {nouns} per customer",
        )
        for kpi in ("cross_sell_revenue_share", "median_days_to_cross_sell", "cross_sell_win_rate"):
            add(kpi, None, "needs dates")
        return pl.DataFrame(rows, schema=_SCHEMA)
    add(
        "cross_sell_rate",
        crossed_n["crossed"] / n_customers if n_customers else None,
        f"{crossed_n['crossed']:,} of {n_customers:,} customers bought a new {noun} in the last {window_days} days",
    )
    add(
        "multi_product_rate",
        head["multi_product_rate"],
        f"customers owning 2+ {nouns}; {head['items_per_customer'] or 0:.2f} {nouns} per customer",
    )
    won_amount = revenue["won_amount"] or 0.0
    add(
        "cross_sell_revenue_share",
        (revenue["cross_amount"] or 0.0) / won_amount if won_amount else None,
        f"{revenue['cross_amount'] or 0:,.0f} of {won_amount:,.0f} won in the last {window_days} days",
    )
    median = overall["km_median_days"]
    add(
        "median_days_to_cross_sell",
        median,
        f"Kaplan–Meier over {overall['accounts_landed']:,} landed accounts "
        f"({overall['accounts_cross_sold']:,} cross-sold; median among them "
        f"{overall['median_days'] if overall['median_days'] is not None else '–'} days)"
        if median is not None
        else "fewer than half of landed accounts have been cross-sold"
        if overall["accounts_landed"]
        else "no account has landed",
    )
    if has_stage:
        won_lines = revenue["won_cross_lines"] or 0
        lost_lines = lost["lost_cross_lines"] or 0
        total = won_lines + lost_lines
        add(
            "cross_sell_win_rate",
            won_lines / total if total else None,
            f"{won_lines:,} won of {total:,} cross-sell lines closed in the last {window_days} days",
        )
    else:
        add("cross_sell_win_rate", None, "needs a stage column (won / lost lines)")
    return pl.DataFrame(rows, schema=_SCHEMA)


def _lost_cross_sell_lines(model: Model, in_window: pl.Expr) -> pl.LazyFrame:
    """Lost lines closed in the window for a family the account, already landed, had not bought."""
    lost = model.lines.filter((pl.col("stage") == "lost") & in_window)
    land = model.land.drop("as_of")
    # (each family's first purchase, from the item histories the timing and the kinds read:
    # not a grouping of every won line of its own, 0.2-0.3 s at 300 k accounts)
    firsts = model.item_history.select("account_id", "item", "first_date")
    attempts = (
        lost.join(land, on="account_id", how="inner")
        .join(firsts, on=["account_id", "item"], how="left")
        .filter(
            (pl.col("land_date") < pl.col("booked_at"))
            & (pl.col("first_date").is_null() | (pl.col("first_date") >= pl.col("booked_at")))
        )
    )
    return attempts.select(pl.len().alias("lost_cross_lines"))
