"""Backtest: how good is a whitespace ranking on purchases it has not seen (SPEC §2 "backtest").

At a cutoff C with horizon h:
- customers: accounts owning at least one item at C (sellable or not);
- truth(a): the items whose first-ever won line by a is booked in (C, C + h] (a re-buy of an
  item bought before never counts);
- candidates(a): sellable items a does not own at C; with ``active_days`` N, only items with a
  won line booked in (C − N, C];
- evaluated: customers with a non-empty truth. Truth items that are not candidates stay in
  recall's denominator and in the MAP / NDCG normalisers;
- ranking: score descending, ties by item name; a candidate the model did not score ranks last.
- at k (1, 3, 5): precision hits@k / k (k even when fewer candidates exist); recall hits@k / |truth|;
  hit rate 1[hits@k > 0]; AP@k = Σ_{i≤k} P@i · rel_i / min(k, |truth|) (MAP: its mean);
  NDCG@k = Σ_{i≤k} rel_i / log2(i + 1) ÷ Σ_{i≤min(k,|truth|)} 1 / log2(i + 1); means over the
  evaluated accounts.
- each model's difference to popularity: the mean of the paired per-account difference, with a
  95% interval from 1 000 bootstrap resamples of the evaluated accounts (seed 20250611, so every
  run gives the same interval): the 2.5th and 97.5th percentiles of the resampled means.
The models only ever see lines booked on or before C.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

KS = (1, 3, 5)
METRICS = tuple(f"{m}_at_{k}" for m in ("precision", "recall", "hit_rate", "map", "ndcg") for k in KS)
BOOT_SEED = 20250611
BOOT_N = 1000


def truth(lines: pl.DataFrame, customers: pl.DataFrame, *, cutoff: dt.date, horizon_days: int) -> pl.DataFrame:
    """account_id, item: each customer's first-ever won purchases in (C, C + h]. ``lines``: every
    won line of the book (account_id, item, booked_at), any date."""
    end = cutoff + dt.timedelta(days=horizon_days)
    first = lines.group_by("account_id", "item").agg(pl.col("booked_at").min().alias("first"))
    return (
        first.filter((pl.col("first") > cutoff) & (pl.col("first") <= end))
        .join(customers, on="account_id", how="semi")
        .select("account_id", "item")
        .sort("account_id", "item")
    )


def candidates(
    customers: pl.DataFrame,
    owned: pl.DataFrame,
    sellable: pl.DataFrame,
    lines: pl.DataFrame,
    *,
    cutoff: dt.date,
    active_days: int | None,
) -> pl.DataFrame:
    """account_id, item: sellable items each customer does not own at C (recently sold ones only
    with ``active_days``). ``lines``: won lines booked on or before C."""
    items = ranked_items(sellable, lines, cutoff=cutoff, active_days=active_days)
    return (
        customers.join(items, how="cross").join(owned, on=["account_id", "item"], how="anti").sort("account_id", "item")
    )


def ranked_items(
    sellable: pl.DataFrame, lines: pl.DataFrame, *, cutoff: dt.date, active_days: int | None
) -> pl.DataFrame:
    """item: the items ranked at C: the sellable ones, with ``active_days`` N only those with a
    won line booked in (C − N, C]. ``lines``: won lines booked on or before C."""
    items = sellable.select("item")
    if active_days is not None:
        recent = lines.filter(pl.col("booked_at") > cutoff - dt.timedelta(days=active_days)).select("item").unique()
        items = items.join(recent, on="item", how="semi")
    return items.sort("item")


def per_account(scores: pl.DataFrame, cands: pl.DataFrame, truth_pairs: pl.DataFrame) -> pl.DataFrame:
    """One row per evaluated account (account_id, n_truth, every metric in METRICS).
    ``scores``: account_id, item, score (higher ranks first)."""
    evaluated = truth_pairs.group_by("account_id").agg(pl.len().alias("n_truth")).sort("account_id")
    # Items and accounts as integer codes in name order: the same order, a cheaper sort.
    codes = cands.select(pl.col("item").unique().sort()).with_row_index("item_code")
    accounts = evaluated.select("account_id").with_row_index("account_code")
    top = (
        cands.join(accounts, on="account_id", how="inner")
        .join(codes, on="item", how="left")
        .join(scores.select("account_id", "item", "score"), on=["account_id", "item"], how="left")
        .with_columns(pl.col("score").cast(pl.Float64).fill_nan(None).fill_null(-math.inf))
        .sort(["account_code", "score", "item_code"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("account_code").alias("rank"))
        .filter(pl.col("rank") <= max(KS))
    )
    ranked = (
        top.select("account_id", "item", "rank")
        .join(truth_pairs.with_columns(pl.lit(1).alias("rel")), on=["account_id", "item"], how="left")
        .with_columns(pl.col("rel").fill_null(0))
        .sort("account_id", "rank")
        .with_columns(pl.col("rel").cum_sum().over("account_id").alias("cum"))
        .with_columns(
            (pl.col("cum") / pl.col("rank") * pl.col("rel")).alias("prec_rel"),
            (pl.col("rel") / (pl.col("rank") + 1).log(2)).alias("dcg"),
        )
    )
    sums = []
    for k in KS:
        within = pl.col("rank") <= k
        sums += [
            pl.col("rel").filter(within).sum().alias(f"hits{k}"),
            pl.col("prec_rel").filter(within).sum().alias(f"ap{k}"),
            pl.col("dcg").filter(within).sum().alias(f"dcg{k}"),
        ]
    got = evaluated.join(ranked.group_by("account_id").agg(sums), on="account_id", how="left").fill_null(0)
    out = []
    for k in KS:
        ideal = pl.lit(0.0)
        for i in range(1, k + 1):
            ideal = ideal + pl.when(pl.col("n_truth") >= i).then(1.0 / math.log2(i + 1)).otherwise(0.0)
        hits = pl.col(f"hits{k}").cast(pl.Float64)
        out += [
            (hits / k).alias(f"precision_at_{k}"),
            (hits / pl.col("n_truth")).alias(f"recall_at_{k}"),
            (hits > 0).cast(pl.Float64).alias(f"hit_rate_at_{k}"),
            (pl.col(f"ap{k}") / pl.min_horizontal(pl.col("n_truth"), pl.lit(k)).cast(pl.Float64)).alias(f"map_at_{k}"),
            (pl.col(f"dcg{k}") / ideal).alias(f"ndcg_at_{k}"),
        ]
    return got.select("account_id", "n_truth", *out).sort("account_id")


def bootstrap(diff: np.ndarray, *, n: int = BOOT_N, seed: int = BOOT_SEED) -> tuple[float, float]:
    """95% percentile interval of the mean of ``diff`` over resampled accounts."""
    if diff.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, diff.size, size=(n, diff.size))
    means = diff[picks].mean(axis=1)
    return (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def table(per_model: dict[str, pl.DataFrame], *, baseline: str = "popularity") -> pl.DataFrame:
    """One row per model: every metric's mean, accounts, and for P@1 and MAP@5 the difference to
    ``baseline`` with its bootstrap 95% interval (empty on the baseline's own row)."""
    rows = []
    base = per_model[baseline].sort("account_id")
    for name, frame in per_model.items():
        frame = frame.sort("account_id")
        row: dict[str, object] = {"model": name, "accounts": frame.height}
        for m in METRICS:
            row[m] = float(frame[m].mean()) if frame.height else None  # type: ignore[arg-type]
        for m, short in (("precision_at_1", "p1"), ("map_at_5", "map5")):
            if name == baseline or not frame.height:
                row[f"{short}_vs_popularity"] = row[f"{short}_low"] = row[f"{short}_high"] = None
                continue
            diff = (frame[m] - base[m]).to_numpy()
            low, high = bootstrap(diff)
            row[f"{short}_vs_popularity"] = float(diff.mean())
            row[f"{short}_low"] = low
            row[f"{short}_high"] = high
        rows.append(row)
    schema: dict[str, pl.DataType] = {"model": pl.String(), **{m: pl.Float64() for m in METRICS}}
    schema["accounts"] = pl.Int64()
    for short in ("p1", "map5"):
        for suffix in ("vs_popularity", "low", "high"):
            schema[f"{short}_{suffix}"] = pl.Float64()
    return pl.DataFrame(rows, schema=schema)
