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
