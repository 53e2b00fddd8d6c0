"""Kaplan–Meier invariants on random durations, against a brute-force exact-rational estimate."""

from __future__ import annotations

from fractions import Fraction

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from crossell_cli.metrics.stats import kaplan_meier, kaplan_meier_curve


def exact_km(rows: list[tuple[int, bool]]) -> tuple[list[tuple[int, Fraction]], int | None]:
    """Every event time with the exact S(t), and the first where S(t) ≤ ½, by brute force."""
    curve = []
    survival = Fraction(1)
    for t in sorted({days for days, event in rows if event}):
        at_risk = sum(1 for days, _ in rows if days >= t)
        events = sum(1 for days, event in rows if event and days == t)
        survival *= Fraction(at_risk - events, at_risk)
        curve.append((t, survival))
    median = next((t for t, s in curve if s <= Fraction(1, 2)), None)
    return curve, median


def survival_at(curve: list[tuple[int, Fraction]], day: int) -> Fraction:
    return next((s for t, s in reversed(curve) if t <= day), Fraction(1))


# Few distinct days and many ties, so exact halves (and near misses) come up often.
durations = st.lists(st.tuples(st.integers(0, 400), st.booleans()), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(durations, min_size=1, max_size=3), step=st.sampled_from([1, 30, 97]))
def test_km_median_equals_the_exact_rational_computation(groups, step):
    rows = [(g, days * step // 30, event) for g, group in enumerate(groups) for days, event in group]
    frame = pl.LazyFrame(rows, schema={"g": pl.Int64, "days": pl.Int64, "event": pl.Boolean}, orient="row")
    result = {r["g"]: r for r in kaplan_meier(frame, group="g", horizons=(90, 180, 365)).collect().to_dicts()}
    for g in range(len(groups)):
        own = [(days, event) for h, days, event in rows if h == g]
        curve, median = exact_km(own)
        assert result[g]["km_median_days"] == (None if median is None else float(median)), own
        for horizon in (90, 180, 365):
            exact = 1 - survival_at(curve, horizon)
            within = result[g][f"within_{horizon}d"]
            if within is None:  # beyond the follow-up: see the next test
                continue
            if exact in (0, Fraction(1, 2), 1):
                assert within == float(exact), (horizon, own)  # exact values stay exact
            else:
                assert abs(Fraction(within) - exact) < Fraction(1, 10**12), (horizon, own)


def test_km_median_of_24_one_a_day_is_the_12th_day():
    # 23/24 · 22/23 · … · 12/13 = ½ exactly; the float product is 0.5000000000000001
    frame = pl.LazyFrame({"g": ["all"] * 24, "days": list(range(1, 25)), "event": [True] * 24})
    row = kaplan_meier(frame, group="g", horizons=(12,)).collect().row(0, named=True)
    assert row["km_median_days"] == 12.0 and row["within_12d"] == 0.5


@settings(max_examples=300, deadline=None)
@given(rows=durations, horizon=st.sampled_from([0, 1, 90, 180, 365, 399]))
def test_within_n_days_is_empty_beyond_the_longest_follow_up(rows, horizon):
    frame = pl.LazyFrame(
        [("g", days, event) for days, event in rows],
        schema={"g": pl.String, "days": pl.Int64, "event": pl.Boolean},
        orient="row",
    )
    within = kaplan_meier(frame, group="g", horizons=(horizon,)).collect()[f"within_{horizon}d"][0]
    longest = max(days for days, _ in rows)
    curve, _ = exact_km(rows)
    everyone_had_it = bool(curve) and curve[-1][1] == 0  # the curve reached 0: 100% from then on
    if longest >= horizon or everyone_had_it:
        assert within is not None and 0.0 <= within <= 1.0
    else:
        assert within is None, (longest, rows)


@settings(max_examples=200, deadline=None)
@given(rows=durations)
def test_the_drawn_curve_is_the_estimate_behind_within_n_days(rows):
    """The report's curve (kaplan_meier_curve) agrees with timing's within_Nd, step by step, and
    with the exact S(t); its counts add up to the accounts followed."""
    frame = pl.LazyFrame(
        [("g", days, event) for days, event in rows],
        schema={"g": pl.String, "days": pl.Int64, "event": pl.Boolean},
        orient="row",
    )
    curve = kaplan_meier_curve(frame, group="g").collect()
    assert curve.columns == ["group", "days", "survival", "at_risk", "events", "censored"]
    assert curve["days"].to_list() == sorted({float(d) for d, _ in rows})
    assert int(curve["events"].sum() + curve["censored"].sum()) == len(rows)
    assert curve["at_risk"][0] == len(rows)
    exact, _ = exact_km(rows)
    for day, survival, at_risk in curve.select("days", "survival", "at_risk").iter_rows():
        assert at_risk == sum(1 for d, _ in rows if d >= day)
        want = survival_at(exact, int(day))
        assert survival == float(want) if want in (0, Fraction(1, 2), 1) else abs(Fraction(survival) - want) < 1e-12
    horizons = (0, 90, 180, 365)
    estimate = kaplan_meier(frame, group="g", horizons=horizons).collect().row(0, named=True)
    for horizon in horizons:
        within = estimate[f"within_{horizon}d"]
        if within is None:
            continue
        before = curve.filter(pl.col("days") <= horizon)["survival"]
        assert within == 1.0 - (before[-1] if before.len() else 1.0)
