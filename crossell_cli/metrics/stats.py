"""Small statistics shared by metrics, as Polars expressions."""

from __future__ import annotations

import polars as pl

Z95 = 1.959963984540054


def wilson(successes: pl.Expr, trials: pl.Expr, z: float = Z95) -> tuple[pl.Expr, pl.Expr]:
    """95% Wilson score interval (low, high) of successes / trials; null when trials = 0.

    centre = (p + z²/2n) / (1 + z²/n); half = z·sqrt(p(1−p)/n + z²/4n²) / (1 + z²/n)
    """
    n = trials.cast(pl.Float64)
    p = successes.cast(pl.Float64) / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * ((p * (1 - p) / n) + z2 / (4 * n * n)).sqrt() / denom
    valid = trials > 0
    # At p = 0 and p = 1 the bounds are exactly 0 and 1; floating point misses by 1e-16.
    low = pl.when(valid & (successes == 0)).then(0.0).when(valid).then((centre - half).clip(0.0, 1.0))
    high = pl.when(valid & (successes == trials)).then(1.0).when(valid).then((centre + half).clip(0.0, 1.0))
    return low, high


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null (an empty cell) when the denominator is 0 or null."""
    return pl.when(denominator != 0).then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))


def ratio_to_constant(numerator: pl.Expr, constant: float) -> pl.Expr:
    """numerator / constant as IEEE division rounds it; null when the constant is 0.

    Polars divides by a scalar by multiplying with its reciprocal, which is one ulp off
    for many values (135 / 4335); dividing by a column of the same length is exact.
    """
    if not constant:
        return pl.lit(None, dtype=pl.Float64)
    value = numerator.cast(pl.Float64)
    return value / (value * 0.0 + float(constant))


MICRO = 1_000_000


def money_sum(amounts: pl.Expr) -> pl.Expr:
    """Σ money, the same to the last bit whatever order the rows arrive in.

    A float sum depends on the order of its terms, and a parallel group-by does not fix the
    order: 75956.30000000002 one run, 75956.29999999999 the next. Summed as whole
    micro-units (Int128, exact), then divided by a column (see ``ratio_to_constant``).
    """
    units = (amounts * MICRO).round(0).cast(pl.Int128).sum().cast(pl.Float64)
    return units / (units * 0.0 + MICRO)


_FRACTION_UNITS = 2**60


def fraction_mean(values: pl.Expr) -> pl.Expr:
    """Mean of values in [0, 1], the same to the last bit whatever order the rows arrive in.

    Like ``money_sum``: summed as whole 2⁻⁶⁰ units (Int128, exact), so a parallel group-by
    cannot change the last digits (``mean()`` did, about one run in eight).
    """
    units = (values * _FRACTION_UNITS).round(0).cast(pl.Int128)
    total = units.sum().cast(pl.Float64) / _FRACTION_UNITS
    return total / units.count().cast(pl.Float64)


def money_units(amounts: pl.Expr) -> pl.Expr:
    """Σ money as whole micro-units (Int128): exact, so running totals of it are exact too."""
    return (amounts * MICRO).round(0).cast(pl.Int128).sum()


def money_add(*amounts: pl.Expr) -> pl.Expr:
    """a + b + … of money columns, row by row, exact to the micro-unit: a float sum shows
    795926.23 + 1084995.89 as 1880922.1199999999 (null when any term is null)."""
    units = [(amount * MICRO).round(0).cast(pl.Int128) for amount in amounts]
    return from_money_units(pl.sum_horizontal(units, ignore_nulls=False))


def from_money_units(units: pl.Expr) -> pl.Expr:
    """Micro-units back to money, divided by a column (see ``ratio_to_constant``)."""
    value = units.cast(pl.Float64)
    return value / (value * 0.0 + MICRO)


# Each float factor (n − d) / n is one rounding (relative error ≤ 2⁻⁵³: n − d and n are exact
# integers), and each step of the running product one more, so after m factors the float S is
# within (2m − 1)·2⁻⁵³ of the exact Π (n − d) / n. A value within (2m + 2)·2⁻⁵³ of ½ is taken
# as ½: an exact half is then exact (22 accounts, 11 left: the product is 0.5000000000000001),
# and a value that close to ½ without being ½ needs a denominator Π n above 10¹³ and a
# numerator that lands within 10⁻¹⁴ of half of it, which counted book data does not do.
_UNIT = 2.0**-53


def _km_steps(durations: pl.LazyFrame, *, group: str) -> pl.LazyFrame:
    """One row per (group, distinct days): at_risk, events, censored and survival S(t) just
    after t, from rows (group, days, event); events before censorings at equal times.

    S(t) = Π over event times tᵢ ≤ t of (nᵢ − dᵢ) / nᵢ (nᵢ at risk, dᵢ events): a time without
    events multiplies by exactly 1.0, so it carries S forward unchanged. Halves are exact
    (see _UNIT); ``__m`` counts the event times so far (the roundings behind S).
    """
    counts = durations.group_by(group, "days").agg(pl.col("event").sum().alias("d"), pl.len().alias("n"))
    counts = counts.sort(group, "days")
    total = pl.col("n").sum().over(group)
    leaving_before = (pl.col("n").cum_sum() - pl.col("n")).over(group)
    at_risk = (total - leaving_before).cast(pl.Float64)
    near = (pl.col("survival") - 0.5).abs() <= (2 * pl.col("__m") + 2).cast(pl.Float64) * _UNIT
    factor = pl.when(pl.col("d") > 0).then((pl.col("__at_risk") - pl.col("d")) / pl.col("__at_risk")).otherwise(1.0)
    return (
        counts.with_columns(at_risk.alias("__at_risk"))
        .with_columns(factor.alias("__factor"))
        .with_columns(
            pl.col("__factor").cum_prod().over(group).alias("survival"),
            (pl.col("d") > 0).cast(pl.Int64).cum_sum().over(group).alias("__m"),
        )
        .with_columns(pl.when(near).then(0.5).otherwise(pl.col("survival")).alias("survival"))
    )


def kaplan_meier(durations: pl.LazyFrame, *, group: str, horizons: tuple[int, ...]) -> pl.LazyFrame:
    """Kaplan–Meier estimate per group from rows (group, days, event).

    ``event`` is true when the outcome happened after ``days``, false when the row is
    censored at ``days``. Events are counted before censorings at the same time, so a
    row censored at t is still at risk at t. Returns, per group, ``within_<N>d`` =
    1 − S(N) (the share expected to have the event in ≤ N days) for each horizon, and
    ``km_median_days``: the smallest event time where S(t) ≤ ½ (empty if never).

    S(t) = Π over event times tᵢ ≤ t of (nᵢ − dᵢ) / nᵢ (nᵢ at risk, dᵢ events); halves are
    exact (see _UNIT). ``within_<N>d`` is empty when the group's longest follow-up (its
    largest ``days``, event or censoring) is shorter than N: nobody was watched that long,
    and carrying S forward would report the share seen so far. The one exception is a curve
    that reached 0 (every row of the group had the event): the share within any later N is
    then known, 100%.
    """
    steps = _km_steps(durations, group=group)
    events = steps.filter(pl.col("d") > 0)
    aggs = [pl.col("survival").filter(pl.col("days") <= h).last().alias(f"__s{h}") for h in horizons]
    aggs += [
        (pl.col("survival").last() == 0.0).alias("__all_had_it"),  # (n − d) / n is exactly 0
        pl.col("days").filter(pl.col("survival") <= 0.5).first().cast(pl.Float64).alias("km_median_days"),
    ]
    # A group without events keeps S = 1 throughout: within_<N>d = 0, no median.
    return (
        steps.group_by(group)
        .agg(pl.col("days").max().alias("__followup"))
        .join(events.group_by(group).agg(aggs), on=group, how="left")
        .select(
            group,
            *[
                pl.when((pl.col("__followup") >= h) | pl.col("__all_had_it").fill_null(False))
                .then(1.0 - pl.col(f"__s{h}").fill_null(1.0))
                .alias(f"within_{h}d")
                for h in horizons
            ],
            "km_median_days",
        )
    )


def kaplan_meier_curve(durations: pl.LazyFrame, *, group: str) -> pl.LazyFrame:
    """The Kaplan–Meier curve behind ``kaplan_meier``, to draw: one row per group and distinct
    ``days`` (event or censoring time) with ``survival`` (S just after that day), ``at_risk``
    (rows still followed on that day), ``events`` and ``censored`` on that day. 1 − survival
    at day N is ``within_<N>d`` (where that is not empty)."""
    return _km_steps(durations, group=group).select(
        pl.col(group).cast(pl.String).alias("group"),
        pl.col("days").cast(pl.Float64),
        "survival",
        pl.col("__at_risk").cast(pl.Int64).alias("at_risk"),
        pl.col("d").cast(pl.Int64).alias("events"),
        (pl.col("n") - pl.col("d")).cast(pl.Int64).alias("censored"),
    )
