"""Time to cross-sell: days from an account's land to its first cross-sell (SPEC §2 "timing").

Per group: ``accounts_landed``; ``accounts_cross_sold``; ``median_days``, ``p25_days``,
``p75_days``, ``p90_days`` among the cross-sold (linear interpolation, as numpy's
default); ``within_90d``, ``within_180d``, ``within_365d`` and ``km_median_days`` from a
Kaplan–Meier estimate in which accounts not yet cross-sold are censored at T − land date
(a share over cross-sold accounts only would be biased towards fast cross-sells). A
``within_<N>d`` is empty when the group's longest follow-up is shorter than N days.
``premature_cross_sells`` counts cross-sold (account, family) pairs booked within
``premature_days`` of land; ``premature_early_churn_rate`` and ``other_early_churn_rate``
are the shares of those, and of the other cross-sells, that churned early (every line of
the family ended, on or before T, within ``early_churn_days`` of its first start). Both
are empty when no won line has an end date: such a book cannot show anyone leaving, and
0% would claim that nobody did.

Groups: ``all`` (one row); ``segment``; ``cohort`` (land quarter); ``land_family`` (one row
per family in the land bundle; an account with two counts in both); ``cross_family``
(per family X cross-sold at least once: accounts that did not land with X, the event being
their first purchase of X); ``pair`` ('A → X': accounts that landed with A and without X; only pairs where X was
cross-sold at least once).
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from ..model import Model
from ..text import fmt
from .periods import Calendar
from .stats import kaplan_meier, kaplan_meier_curve, ratio

TimingBy = Literal["land_family", "cross_family", "pair", "segment", "cohort"]
HORIZONS = (90, 180, 365)


def cross_sold_families(model: Model, *, early_churn_days: int) -> pl.LazyFrame:
    """Per (account, family) first bought as a cross-sell: first_date, land_date, early_churned."""
    per_item = model.item_history
    early = (
        pl.col("all_ended")
        & (pl.col("last_end") <= pl.col("as_of"))
        & ((pl.col("last_end") - pl.col("first_start")).dt.total_days() <= early_churn_days)
    )
    return per_item.filter(~pl.col("landed_with")).select(
        "account_id",
        "item",
        "first_date",
        "land_date",
        "first_start",
        "last_end",
        early.alias("early_churned"),
    )


def median_days_to_cross_sell(model: Model) -> pl.LazyFrame:
    """One row: median_days (from land to the first cross-sell, among the accounts that were
    cross-sold; linear interpolation) and accounts (how many they are).

    The ``median_days`` of ``timing``'s ``all`` row, without the Kaplan–Meier curve: it
    describes when cross-sells come, where the Kaplan–Meier median (``km_median_days``)
    describes how long an account waits, counting those still waiting.
    """
    firsts = (
        cross_sold_families(model, early_churn_days=0)
        .group_by("account_id")
        .agg((pl.col("first_date").min() - pl.col("land_date").first()).dt.total_days().alias("days"))
    )
    return firsts.select(
        pl.col("days").quantile(0.5, interpolation="linear").cast(pl.Float64).alias("median_days"),
        pl.len().cast(pl.Int64).alias("accounts"),
    )


def timing(
    model: Model,
    *,
    by: TimingBy | None,
    calendar: Calendar,
    premature_days: int,
    early_churn_days: int,
) -> pl.LazyFrame:
    """One row per group; see the module docstring."""
    crosses = cross_sold_families(model, early_churn_days=early_churn_days).with_columns(
        ((pl.col("first_date") - pl.col("land_date")).dt.total_days() <= premature_days).alias("premature")
    )
    group = by or "group"
    population, pairs = _population(model, by, calendar, crosses)
    durations = _durations(population, group)

    counts = durations.group_by(group).agg(
        pl.len().cast(pl.Int64).alias("accounts_landed"),
        pl.col("event").sum().cast(pl.Int64).alias("accounts_cross_sold"),
        *[
            # Whole days interpolated at q: the exact answer has one decimal at most (0.9 × 13
            # = 11.7), which the float interpolation misses in the last digit (11.700000000000001).
            pl.col("days").filter(pl.col("event")).quantile(q, interpolation="linear").round(6).alias(name)
            for name, q in (("median_days", 0.5), ("p25_days", 0.25), ("p75_days", 0.75), ("p90_days", 0.9))
        ],
    )
    km = kaplan_meier(durations, group=group, horizons=HORIZONS)
    premature = pairs.group_by(group).agg(
        pl.col("premature").sum().cast(pl.Int64).alias("premature_cross_sells"),
        pl.col("early_churned").filter(pl.col("premature")).sum().alias("__pe"),
        pl.col("early_churned").filter(~pl.col("premature")).sum().alias("__oe"),
        (~pl.col("premature")).sum().alias("__others"),
    )
    # Without end dates nobody can be seen to leave: the churn rates are unknown, not 0%.
    churn_known = pl.col("end_dates").fill_null(False)
    result = (
        counts.join(km, on=group, how="left")
        .join(premature, on=group, how="left")
        .join(model.has_end_dates, how="cross")
        .with_columns(pl.col("premature_cross_sells").fill_null(0))
        .with_columns(
            pl.when(churn_known)
            .then(ratio(pl.col("__pe"), pl.col("premature_cross_sells")))
            .alias("premature_early_churn_rate"),
            pl.when(churn_known).then(ratio(pl.col("__oe"), pl.col("__others"))).alias("other_early_churn_rate"),
        )
        .select(
            pl.col(group).cast(pl.String),
            "accounts_landed",
            "accounts_cross_sold",
            "median_days",
            "p25_days",
            "p75_days",
            "p90_days",
            *[f"within_{h}d" for h in HORIZONS],
            "km_median_days",
            "premature_cross_sells",
            "premature_early_churn_rate",
            "other_early_churn_rate",
        )
        .sort(group, nulls_last=True)
    )
    return result


def _population(
    model: Model, by: TimingBy | None, calendar: Calendar, crosses: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The accounts followed per group (with land_date, cross_date and as_of) and the
    cross-sold (account, family) pairs per group, for ``by``."""
    # (from the item histories, not the classified lines: timing needs no line's kind)
    history = model.item_history
    land = model.land
    land_items = history.filter(pl.col("landed_with")).select("account_id", "item")
    group = by or "group"
    if by in (None, "segment", "cohort", "land_family"):
        first_cross = crosses.group_by("account_id").agg(pl.col("first_date").min().alias("cross_date"))
        population = land.join(first_cross, on="account_id", how="left")
        population = _grouped(population, model, by, calendar, land_items)
        pairs = _grouped(crosses, model, by, calendar, land_items)
    elif by == "cross_family":
        items = history.select("item").unique()
        population = (
            land.join(items, how="cross")
            .join(land_items.with_columns(pl.lit(True).alias("__landed")), on=["account_id", "item"], how="left")
            .filter(pl.col("__landed").is_null())
            .join(
                crosses.select("account_id", "item", pl.col("first_date").alias("cross_date")),
                on=["account_id", "item"],
                how="left",
            )
            .with_columns(pl.col("item").alias(group))
            # only families cross-sold at least once, like pairs
            .join(crosses.select("item").unique(), on="item", how="semi")
        )
        pairs = crosses.with_columns(pl.col("item").alias(group))
    else:  # pair
        population = (
            land.join(land_items.rename({"item": "base"}), on="account_id")
            .join(
                crosses.select("account_id", "item", pl.col("first_date").alias("cross_date")),
                on="account_id",
            )
            .join(land_items.with_columns(pl.lit(True).alias("__landed")), on=["account_id", "item"], how="left")
            .filter(pl.col("__landed").is_null())
        )
        candidates = population.select("base", "item").unique()
        population = (
            land.join(land_items.rename({"item": "base"}), on="account_id")
            .join(candidates, on="base")
            .join(land_items.with_columns(pl.lit(True).alias("__landed")), on=["account_id", "item"], how="left")
            .filter(pl.col("__landed").is_null())
            .join(
                crosses.select("account_id", "item", pl.col("first_date").alias("cross_date")),
                on=["account_id", "item"],
                how="left",
            )
            .with_columns(fmt("{} → {}", "base", "item").alias(group))
        )
        pairs = crosses.join(land_items.rename({"item": "base"}), on="account_id").with_columns(
            fmt("{} → {}", "base", "item").alias(group)
        )

    return population, pairs


def _durations(population: pl.LazyFrame, group: str) -> pl.LazyFrame:
    """group, days (land to first cross-sell, or to T for an account still waiting), event."""
    return population.select(
        group,
        pl.coalesce(pl.col("cross_date"), pl.col("as_of")).sub(pl.col("land_date")).dt.total_days().alias("days"),
        pl.col("cross_date").is_not_null().alias("event"),
    )


def km_curve(model: Model, *, by: TimingBy | None, calendar: Calendar) -> pl.LazyFrame:
    """The Kaplan–Meier curve behind ``timing``'s within_Nd and km_median_days, per group (the
    first column is always ``group``; ``all`` without ``by``): days, survival, at_risk, events,
    censored (see ``stats.kaplan_meier_curve``). Grain: one row per group and distinct day."""
    crosses = cross_sold_families(model, early_churn_days=0)
    population, _ = _population(model, by, calendar, crosses)
    return kaplan_meier_curve(_durations(population, by or "group"), group=by or "group").sort(
        "group", "days", nulls_last=True
    )


def _grouped(
    frame: pl.LazyFrame, model: Model, by: TimingBy | None, calendar: Calendar, land_items: pl.LazyFrame
) -> pl.LazyFrame:
    if by is None:
        return frame.with_columns(pl.lit("all").alias("group"))
    if by == "segment":
        segments = model.accounts.select("account_id", pl.col("segment").fill_null("(none)"))
        return frame.join(segments, on="account_id", how="left").with_columns(pl.col("segment").fill_null("(none)"))
    if by == "cohort":
        quarters = Calendar("quarter", calendar.fiscal_year_start_month)
        return frame.with_columns(quarters.label_expr(quarters.index_expr(pl.col("land_date"))).alias("cohort"))
    # land_family: one row per family of the land bundle
    return frame.join(land_items.rename({"item": "land_family"}), on="account_id")
