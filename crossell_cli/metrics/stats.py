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


def kaplan_meier(durations: pl.LazyFrame, *, group: str, horizons: tuple[int, ...]) -> pl.LazyFrame:
    """Kaplan–Meier estimate per group from rows (group, days, event).

    ``event`` is true when the outcome happened after ``days``, false when the row is
    censored at ``days``. Events are counted before censorings at the same time, so a
    row censored at t is still at risk at t. Returns, per group, ``within_<N>d`` =
    1 − S(N) (the share expected to have the event in ≤ N days) for each horizon, and
    ``km_median_days``: the smallest event time where S(t) ≤ 0.5 (empty if never).
    """
    counts = (
        durations.group_by(group, "days").agg(pl.col("event").sum().alias("d"), pl.len().alias("n")).sort(group, "days")
    )
    total = pl.col("n").sum().over(group)
    leaving_before = (pl.col("n").cum_sum() - pl.col("n")).over(group)
    at_risk = total - leaving_before
    curve = counts.with_columns(
        (1.0 - pl.col("d").cast(pl.Float64) / at_risk.cast(pl.Float64)).alias("factor")
    ).with_columns(pl.col("factor").cum_prod().over(group).alias("survival"))
    aggs = [
        (1.0 - pl.col("survival").filter(pl.col("days") <= h).last().fill_null(1.0)).alias(f"within_{h}d")
        for h in horizons
    ]
    aggs.append(
        pl.col("days")
        .filter((pl.col("survival") <= 0.5) & (pl.col("d") > 0))
        .first()
        .cast(pl.Float64)
        .alias("km_median_days")
    )
    return curve.group_by(group).agg(aggs)
