"""Tests of the metrics oracle on tiny books whose answers are worked out by hand below."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from .attach_oracle import load_canonical_csv
from .metrics_oracle import (
    MOVES,
    arr_movements_per_account,
    expansion,
    forced_bundles,
    kaplan_meier,
    km_median,
    percentile,
    period_of,
    retention,
    summary,
    timing,
    whitespace,
)

D = date.fromisoformat
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def L(account, product, booked, *, amount=100.0, stage="won", start=None, end=None, contract=None, rep=None):
    return {
        "account_id": account,
        "product_id": product,
        "booked_at": D(booked) if isinstance(booked, str) else booked,
        "amount": amount,
        "start_date": (D(start) if isinstance(start, str) else start) if start else None,
        "end_date": (D(end) if isinstance(end, str) else end) if end else None,
        "contract_id": contract,
        "stage": stage,
        "line_id": None,
        "list_amount": None,
        "discount": None,
        "quantity": None,
        "rep": rep,
    }


def P(product, family=None, list_price=None, sellable=True):
    return {
        "product_id": product,
        "family": family,
        "product_name": None,
        "list_price": list_price,
        "sellable": sellable,
    }


def A(account, segment=None, name=None, region=None):
    return {"account_id": account, "account_name": name, "segment": segment, "region": region}


def only(rows, **match):
    [row] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def moves(row):
    return tuple(row[k] for k in MOVES)


EXP_COLS = ["period", "period_start", "new", "reactivation", "cross_sell", "upsell", "contraction", "churn",
            "expansion", "cross_sell_share", "opening_arr", "closing_arr"]  # fmt: skip


# ------------------------------------------------------------------ helpers


def test_percentile_is_numpy_type_7():
    assert percentile([], 0.5) is None
    assert percentile([10], 0.9) == 10.0
    # [1,2,3,4], q=0.9: h = 3*0.9 = 2.7 -> 3 + 0.7*(4-3) = 3.7 (numpy.percentile gives 3.7)
    assert percentile([4, 1, 3, 2], 0.9) == pytest.approx(3.7)
    # q=0.25: h = 0.75 -> 1 + 0.75 = 1.75 ; median of even count = mean of the middle two
    assert percentile([1, 2, 3, 4], 0.25) == pytest.approx(1.75)
    assert percentile([1, 2, 3, 4], 0.5) == pytest.approx(2.5)


def test_period_labels_calendar_and_fiscal():
    assert period_of(D("2024-05-17"), "quarter") == (D("2024-04-01"), "2024-Q2")
    assert period_of(D("2024-12-15"), "quarter") == (D("2024-10-01"), "2024-Q4")
    assert period_of(D("2024-05-17"), "month") == (D("2024-05-01"), "2024-05")
    assert period_of(D("2024-05-17"), "year") == (D("2024-01-01"), "2024")
    # FY starting February 2024 is "2025"; its Q1 = Feb-Apr 2024, Q4 = Nov 2024-Jan 2025
    assert period_of(D("2024-02-01"), "year", 2) == (D("2024-02-01"), "2025")
    assert period_of(D("2024-02-01"), "quarter", 2) == (D("2024-02-01"), "2025-Q1")
    assert period_of(D("2024-01-31"), "quarter", 2) == (D("2023-11-01"), "2024-Q4")
    assert period_of(D("2024-12-15"), "quarter", 2) == (D("2024-11-01"), "2025-Q4")
    assert period_of(D("2025-01-02"), "quarter", 2) == (D("2024-11-01"), "2025-Q4")
    assert period_of(D("2024-12-15"), "month", 2) == (D("2024-12-01"), "2024-12")  # months stay calendar


# ------------------------------------------------------------------ expansion: SPEC worked check


def spec_expansion_book():
    # 1 000 accounts x 20 000 Core on 2024-01-15; 350 of them add a 12 000 Analytics on 2024-05-10
    lines = [L(f"c{i:04d}", "core", "2024-01-15", amount=20000.0) for i in range(1000)]
    lines += [L(f"c{i:04d}", "analytics", "2024-05-10", amount=12000.0) for i in range(350)]
    return lines


@pytest.mark.parametrize("mode", ["bookings", "arr"])
def test_spec_expansion_worked_check(mode):
    rows = expansion(spec_expansion_book(), [], [], mode=mode)
    # T = 2024-05-10; periods 2024-Q1 (the first booking / start) .. 2024-Q2 (holds T)
    assert [(r["period"], r["period_start"]) for r in rows] == [
        ("2024-Q1", D("2024-01-01")),
        ("2024-Q2", D("2024-04-01")),
    ]
    q1, q2 = rows
    assert list(q1) == EXP_COLS
    assert q1["new"] == 20_000_000 and q1["cross_sell"] == 0 and q1["cross_sell_share"] is None
    # 350 x 12 000 = 4 200 000 = 21% of the 20 000 000 base
    assert q2["new"] == 0 and q2["cross_sell"] == 4_200_000 and q2["upsell"] == 0
    assert q2["expansion"] == 4_200_000 and q2["cross_sell_share"] == 1.0
    assert q2["cross_sell"] / q1["new"] == pytest.approx(0.21)
    if mode == "bookings":
        assert q1["reactivation"] is None and q2["contraction"] is None and q2["churn"] is None
        assert q1["opening_arr"] is None and q2["closing_arr"] is None
    else:
        assert (q2["reactivation"], q2["contraction"], q2["churn"]) == (0, 0, 0)
        # the bridge: 0 + 20 000 000 new = 20 000 000; + 4 200 000 cross-sell = 24 200 000
        assert (q1["opening_arr"], q1["closing_arr"]) == (0, 20_000_000)
        assert (q2["opening_arr"], q2["closing_arr"]) == (20_000_000, 24_200_000)


def test_bookings_mode_kinds_gap_periods_and_groups():
    lines = [
        L("p", "core", "2024-01-10", amount=1000, contract="K1", rep="Ann"),  # new
        L("p", "ana", "2024-02-01", amount=500, contract="K1", rep="Ann"),  # land contract -> new
        L("p", "sec", "2024-07-15", amount=300, rep="Bob"),  # first sec day -> cross_sell
        L("p", "sec", "2024-07-15", amount=100, rep="Bob"),  # same day -> cross_sell
        L("p", "sec", "2024-08-01", amount=50, rep="Bob"),  # later -> upsell
        L("q", "core", "2024-01-20", amount=2000, rep="Cy"),  # new
        L("q", "core", "2024-08-10", amount=400, rep="Cy"),  # upsell
        L("r", "ana", "2024-07-01", amount=700, rep="Ann"),  # new (r is not in accounts)
        L("w", "core", "2024-03-01", amount=0.0, rep="Dee"),  # a zero line: group "Mid" never moves
        L("q", "sec", "2024-05-01", amount=999, stage="lost"),  # lost: ignored
    ]
    accounts = [A("p", "SMB"), A("q", "Ent"), A("w", "Mid")]
    T = D("2024-09-30")
    rows = expansion(lines, [], accounts, as_of=T, mode="bookings")
    # Q1 new 1500 + 2000 = 3500; Q2 nothing but listed; Q3 new 700, cs 400, upsell 50 + 400
    assert [(r["period"], r["new"], r["cross_sell"], r["upsell"]) for r in rows] == [
        ("2024-Q1", 3500, 0, 0),
        ("2024-Q2", 0, 0, 0),
        ("2024-Q3", 700, 400, 450),
    ]
    assert rows[2]["expansion"] == 850 and rows[2]["cross_sell_share"] == pytest.approx(400 / 850)
    assert rows[1]["cross_sell_share"] is None

    by_seg = expansion(lines, [], accounts, as_of=T, mode="bookings", by="segment")
    assert list(by_seg[0]) == [*EXP_COLS[:2], "segment", *EXP_COLS[2:]]
    # groups that move: Ent, SMB, None (r has no account row); Mid only has a 0 line -> absent
    assert [(r["period"], r["segment"]) for r in by_seg] == [
        (p, s) for p in ("2024-Q1", "2024-Q2", "2024-Q3") for s in ("Ent", "SMB", None)
    ]
    assert only(by_seg, period="2024-Q1", segment="SMB")["new"] == 1500
    assert only(by_seg, period="2024-Q1", segment="Ent")["new"] == 2000
    r = only(by_seg, period="2024-Q3", segment="Ent")
    assert (r["upsell"], r["cross_sell_share"]) == (400, 0.0)
    r = only(by_seg, period="2024-Q3", segment=None)
    assert (r["new"], r["expansion"], r["cross_sell_share"]) == (700, 0, None)

    by_rep = expansion(lines, [], accounts, as_of=T, mode="bookings", by="rep", period="year")
    # one year 2024; reps: Ann new 1500 + 700, Bob cs 400 upsell 50, Cy new 2000 upsell 400; Dee 0
    assert [(r["rep"], r["new"], r["cross_sell"], r["upsell"]) for r in by_rep] == [
        ("Ann", 2200, 0, 0),
        ("Bob", 0, 400, 50),
        ("Cy", 2000, 0, 400),
    ]
    by_fam = expansion(lines, [], accounts, as_of=T, mode="bookings", by="family", period="year")
    assert [(r["family"], r["new"], r["cross_sell"], r["upsell"]) for r in by_fam] == [
        ("ana", 1200, 0, 0),
        ("core", 3000, 0, 400),
        ("sec", 0, 400, 50),
    ]


def test_mode_is_chosen_by_end_dates():
    lines = [L("a", "core", "2024-01-10", amount=100), L("a", "core", "2024-02-10", amount=50, end="2024-05-01")]
    # auto -> ARR mode (an end date exists): Q1 new 150; Q2 (T = 2024-06-30) contraction -50
    rows = expansion(lines, [], [], as_of=D("2024-06-30"))
    assert [moves(r) for r in rows] == [(150, 0, 0, 0, 0, 0), (0, 0, 0, 0, -50, 0)]
    lines[1]["end_date"] = None
    rows = expansion(lines, [], [], as_of=D("2024-06-30"))
    assert rows[0]["churn"] is None and rows[0]["new"] == 100 and rows[0]["upsell"] == 50


# ------------------------------------------------------------------ expansion: ARR regressions


def arr_rows(lines, products=(), T="2024-12-31", **kw):
    kw.setdefault("mode", "arr")
    return expansion(lines, list(products), [], as_of=D(T), **kw)


def per_account(lines, products=(), T="2024-12-31", **kw):
    return arr_movements_per_account(lines, list(products), [], as_of=D(T), **kw)


def assert_identity(rows):
    for r in rows:
        assert r["arr_end"] - r["arr_start"] == pytest.approx(sum(r[k] for k in MOVES))


def test_arr_subscription_starting_before_first_period_is_not_dropped():
    # booked 2024-02-10 but its subscription started 2023-11-01: periods start at 2023-Q4
    lines = [L("s", "core", "2024-02-10", amount=1200, start="2023-11-01")]
    rows = arr_rows(lines, T="2024-03-31")
    assert [(r["period"], moves(r)) for r in rows] == [
        ("2023-Q4", (1200, 0, 0, 0, 0, 0)),
        ("2024-Q1", (0, 0, 0, 0, 0, 0)),
    ]
    pa = per_account(lines, T="2024-03-31")
    assert [(r["period"], r["arr_start"], r["arr_end"]) for r in pa] == [("2023-Q4", 0, 1200), ("2024-Q1", 1200, 1200)]
    assert_identity(pa)
    # bookings mode starts at the first booking: 2024-Q1 only
    rows = expansion(lines, [], [], as_of=D("2024-03-31"), mode="bookings")
    assert [(r["period"], r["new"]) for r in rows] == [("2024-Q1", 1200)]


def test_arr_open_ended_lines_never_churn():
    lines = [L("o", "core", "2023-01-15", amount=500)]
    rows = arr_rows(lines, period="year")
    assert [(r["period"], moves(r)) for r in rows] == [
        ("2023", (500, 0, 0, 0, 0, 0)),
        ("2024", (0, 0, 0, 0, 0, 0)),
    ]


def test_arr_churn_reactivation_and_invisible_blips():
    lines = [
        # r: Core + Ana Jan-Apr, nothing on 06-30, Core again from August
        L("r", "core", "2024-01-10", amount=1000, end="2024-04-15"),
        L("r", "ana", "2024-01-10", amount=300, end="2024-04-15"),
        L("r", "core", "2024-08-01", amount=800),
        # e: ends exactly on the Q1 closing day (end is exclusive) -> never on a snapshot
        L("e", "core", "2024-01-01", amount=100, end="2024-03-31"),
        # w: ends the day after -> on the Q1 snapshot only
        L("w", "core", "2024-01-01", amount=100, end="2024-04-01"),
    ]
    # snapshots: 2023-12-31, 03-31, 06-30, 09-30, 12-31
    # r: 0, 1300, 0, 800, 800 -> Q1 new 1300; Q2 churn -1300 (not contraction); Q3 reactivation 800
    # w: 0, 100, 0, 0, 0      -> Q1 new 100; Q2 churn -100
    rows = arr_rows(lines)
    assert [(r["period"], moves(r)) for r in rows] == [
        ("2024-Q1", (1400, 0, 0, 0, 0, 0)),
        ("2024-Q2", (0, 0, 0, 0, 0, -1400)),
        ("2024-Q3", (0, 800, 0, 0, 0, 0)),
        ("2024-Q4", (0, 0, 0, 0, 0, 0)),
    ]
    assert rows[1]["cross_sell_share"] is None  # expansion 0
    pa = per_account(lines)
    assert_identity(pa)
    assert {r["account_id"] for r in pa} == {"r", "w"}  # e is invisible
    # by family splits new / churn / reactivation by family
    fam = arr_rows(lines, by="family")
    assert [(r["period"], r["family"], r["new"], r["reactivation"], r["churn"]) for r in fam] == [
        ("2024-Q1", "ana", 300, 0, 0),
        ("2024-Q1", "core", 1100, 0, 0),
        ("2024-Q2", "ana", 0, 0, -300),
        ("2024-Q2", "core", 0, 0, -1100),
        ("2024-Q3", "ana", 0, 0, 0),
        ("2024-Q3", "core", 0, 800, 0),
        ("2024-Q4", "ana", 0, 0, 0),
        ("2024-Q4", "core", 0, 0, 0),
    ]


def test_arr_land_bundle_cross_sell_upsell_contraction_rebuy():
    lines = [
        L("b", "core", "2024-02-01", amount=1000),  # land bundle of three families: all new
        L("b", "ana", "2024-02-01", amount=500),
        L("b", "sec", "2024-02-01", amount=200),
        L("b", "pay", "2024-05-01", amount=400, end="2024-10-01"),  # Q2 cross-sell, Q4 gone
        L("b", "core", "2024-08-01", amount=250),  # Q3 upsell
        L("b", "pay", "2025-01-15", amount=300),  # 2025-Q1 re-buy: upsell, not cross-sell
    ]
    # totals: 1700, 2100, 2350, 1950, 2250
    rows = arr_rows(lines, T="2025-03-31")
    assert [(r["period"], moves(r)) for r in rows] == [
        ("2024-Q1", (1700, 0, 0, 0, 0, 0)),
        ("2024-Q2", (0, 0, 400, 0, 0, 0)),
        ("2024-Q3", (0, 0, 0, 250, 0, 0)),
        ("2024-Q4", (0, 0, 0, 0, -400, 0)),
        ("2025-Q1", (0, 0, 0, 300, 0, 0)),
    ]
    assert [r["cross_sell_share"] for r in rows] == [None, 1.0, 0.0, None, 0.0]
    pa = per_account(lines, T="2025-03-31")
    assert [(r["arr_start"], r["arr_end"]) for r in pa] == [
        (0, 1700), (1700, 2100), (2100, 2350), (2350, 1950), (1950, 2250),
    ]  # fmt: skip
    assert_identity(pa)


def test_arr_tier_switch_is_upsell_or_contraction():
    products = [P("starter", "Core"), P("pro", "Core")]
    lines = [
        L("t", "starter", "2024-01-10", amount=1000, end="2024-05-01"),  # upgrade on 05-01
        L("t", "pro", "2024-05-01", amount=1500),
        L("u", "pro", "2024-01-10", amount=1500, end="2024-05-01"),  # downgrade on 05-01
        L("u", "starter", "2024-05-01", amount=1000),
    ]
    rows = arr_rows(lines, products, T="2024-06-30")
    # Q1 new 2500; Q2: t +500 upsell, u -500 contraction; no churn, no new
    assert [moves(r) for r in rows] == [(2500, 0, 0, 0, 0, 0), (0, 0, 0, 500, -500, 0)]
    # at product level the same switch is a cross-sell of the new tier and a contraction
    rows = arr_rows(lines, products, T="2024-06-30", level="product")
    # t: starter -1000 (contraction), pro +1500 (cross_sell); u: pro -1500, starter +1000 (cs)
    assert moves(rows[1]) == (0, 0, 2500, 0, -2500, 0)
    assert_identity(per_account(lines, products, T="2024-06-30", level="product"))


def test_arr_by_rep_uses_latest_started_line():
    lines = [
        L("a", "core", "2024-01-10", amount=1000, end="2024-10-15", rep="Ann"),
        L("a", "core", "2024-05-01", amount=200, end="2024-10-15", rep="Bob"),
        L("a", "ana", "2024-05-01", amount=300, end="2024-10-15", rep="Cy"),
    ]
    rows = arr_rows(lines, by="rep")
    # Q1 Core new 1000 -> Ann (only line started by 03-31); Q2 Core +200 -> Bob (latest start),
    # Ana cross-sell 300 -> Cy; Q3 nothing; Q4 churn: Core -1200 -> Bob, Ana -300 -> Cy
    got = [(r["period"], r["rep"], moves(r)) for r in rows if any(moves(r))]
    assert got == [
        ("2024-Q1", "Ann", (1000, 0, 0, 0, 0, 0)),
        ("2024-Q2", "Bob", (0, 0, 0, 200, 0, 0)),
        ("2024-Q2", "Cy", (0, 0, 300, 0, 0, 0)),
        ("2024-Q4", "Bob", (0, 0, 0, 0, 0, -1200)),
        ("2024-Q4", "Cy", (0, 0, 0, 0, 0, -300)),
    ]
    assert len(rows) == 4 * 3  # every period x every rep that moves


def test_arr_float_residue_is_zero():
    lines = [
        # 0.1 + 0.2 - 0.3 = 5.55e-17 in floating point: cleaned to 0, so f is never a customer
        L("f", "core", "2024-01-10", amount=0.1, end="2024-05-01"),
        L("f", "core", "2024-01-10", amount=0.2, end="2024-05-01"),
        L("f", "core", "2024-01-10", amount=-0.3, end="2024-05-01"),
        L("g", "core", "2024-01-10", amount=5.0),
    ]
    rows = arr_rows(lines, T="2024-06-30")
    assert [moves(r) for r in rows] == [(5.0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0)]
    assert [r["account_id"] for r in per_account(lines, T="2024-06-30")] == ["g", "g"]


# ------------------------------------------------------------------ timing / Kaplan-Meier


def test_kaplan_meier_by_hand():
    obs = [(30, True), (90, True), (90, False), (90, True), (100, False), (200, True), (300, False), (300, True)]
    # t=30: 8 at risk, 1 event -> S = 7/8 = 0.875
    # t=90: 7 at risk (the one censored at 90 still counts), 2 events -> 0.875 * 5/7 = 0.625
    # 100: censoring only -> at risk 3
    # t=200: 3 at risk, 1 event -> 0.625 * 2/3 = 0.41667
    # t=300: 2 at risk (event before the censoring at 300), 1 event -> 0.20833
    curve = kaplan_meier(obs)
    assert [t for t, _ in curve] == [30, 90, 200, 300]
    assert [s for _, s in curve] == pytest.approx([0.875, 0.625, 0.625 * 2 / 3, 0.625 / 3])
    assert km_median(curve) == 200
    assert km_median(kaplan_meier([(10, True), (20, False), (30, False)])) is None  # S = 2/3


def km_book():
    """T = 2024-12-31.  Event accounts land 2024-01-01 (T - 365 days) with Core and cross-sell
    X after d days; censored accounts land on T - d and buy nothing else."""
    T = D("2024-12-31")
    land = D("2024-01-01")
    assert (T - land).days == 365

    def day(n):
        return land + timedelta(days=n)

    lines = []
    for acc in ("a1", "a2", "a4", "a6", "a8"):
        lines.append(L(acc, "core", land))
    # cross-sold X lines, with their ends (early churn: all X lines ended <= T within 180 days)
    lines.append(L("a1", "x", day(30), end=day(30 + 91)))  # ended after 91 d -> early churn
    lines.append(L("a2", "x", day(90), end=D("2025-03-01")))  # ends after T -> no
    lines.append(L("a4", "x", day(90), end=day(90 + 181)))  # 181 > 180 -> no
    lines.append(L("a6", "x", day(200), end=T))  # ended on T after 165 d -> early churn
    lines.append(L("a8", "x", day(300), end=day(310)))  # one X line ended early ...
    lines.append(L("a8", "x", day(305)))  # ... but another is active -> no
    for acc, d in [("a3", 90), ("a5", 100), ("a7", 300)]:
        lines.append(L(acc, "core", T - timedelta(days=d)))
    accounts = [A("a1", "SMB"), A("a2", "SMB"), A("a3", "SMB"), A("a4", "SMB")]
    return lines, accounts, T


def test_timing_overall_with_censoring_and_ties():
    lines, accounts, T = km_book()
    [row] = timing(lines, [], accounts, as_of=T)
    assert list(row) == [
        "group", "accounts_landed", "accounts_cross_sold", "median_days", "p25_days", "p75_days", "p90_days",
        "within_90d", "within_180d", "within_365d", "km_median_days", "premature_cross_sells",
        "premature_early_churn_rate", "other_early_churn_rate",
    ]  # fmt: skip
    assert row["group"] == "all"
    assert (row["accounts_landed"], row["accounts_cross_sold"]) == (8, 5)
    # days among the cross-sold: [30, 90, 90, 200, 300]
    # median h=2 -> 90; p25 h=1 -> 90; p75 h=3 -> 200; p90 h=3.6 -> 200 + 0.6*100 = 260
    assert (row["median_days"], row["p25_days"], row["p75_days"]) == (90, 90, 200)
    assert row["p90_days"] == pytest.approx(260)
    # KM as in test_kaplan_meier_by_hand; "within 90 days" includes day 90
    assert row["within_90d"] == pytest.approx(0.375)
    assert row["within_180d"] == pytest.approx(0.375)
    # S(300) = 0.625 / 3 but nobody was followed 365 days (the longest is 300): no estimate
    assert row["within_365d"] is None
    assert row["km_median_days"] == 200
    # premature (<= 90 d): a1, a2, a4 -> 3, early churn a1 -> 1/3; others a6 (early), a8 (not) -> 1/2
    assert row["premature_cross_sells"] == 3
    assert row["premature_early_churn_rate"] == pytest.approx(1 / 3)
    assert row["other_early_churn_rate"] == pytest.approx(0.5)

    seg = timing(lines, [], accounts, as_of=T, by="segment")
    assert [(r["segment"], r["accounts_landed"], r["accounts_cross_sold"]) for r in seg] == [
        ("(none)", 4, 2),
        ("SMB", 4, 3),
    ]
    # SMB: a1 30 (event), a2 90, a3 90 censored, a4 90 -> S(30) = 3/4, S(90) = 3/4 * 1/3 = 1/4
    smb = seg[1]
    assert smb["within_90d"] == pytest.approx(0.75) and smb["km_median_days"] == 90
    # (none): a5 censored 100, a6 200, a7 censored 300, a8 300 -> S(200)=2/3, S(300)=2/3*1/2
    none = seg[0]
    assert none["within_90d"] == 0.0 and none["within_180d"] == 0.0
    assert none["within_365d"] is None  # followed 300 days at most (S(300) = 1/3)
    assert none["km_median_days"] == 300
    # a smaller premature window moves a2/a4 to "other"
    [row] = timing(lines, [], accounts, as_of=T, premature_days=89)
    assert row["premature_cross_sells"] == 1 and row["premature_early_churn_rate"] == 1.0
    assert row["other_early_churn_rate"] == pytest.approx(1 / 4)


def test_timing_groupings():
    T = D("2024-12-31")
    lines = [
        L("a", "core", "2024-01-01"),
        L("a", "ana", "2024-01-01"),
        L("a", "sec", "2024-03-01"),  # 60 days
        L("b", "core", "2024-01-01"),
        L("b", "ana", "2024-02-01"),  # 31 days: b's first cross-sell
        L("b", "sec", "2024-06-01"),  # 152 days
        L("c", "sec", "2024-01-01"),  # censored at 365
        L("d", "core", "2024-07-01"),  # censored at 183
    ]
    fam = timing(lines, [], [], as_of=T, by="land_family")
    # core: a (60), b (31), d (censored); ana: a (60); sec: c (censored)
    assert [(r["land_family"], r["accounts_landed"], r["accounts_cross_sold"], r["median_days"]) for r in fam] == [
        ("ana", 1, 1, 60),
        ("core", 3, 2, 45.5),
        ("sec", 1, 0, None),
    ]
    sec = fam[2]
    assert sec["within_365d"] == 0.0 and sec["km_median_days"] is None and sec["p90_days"] is None
    assert sec["premature_early_churn_rate"] is None and sec["other_early_churn_rate"] is None

    cross = timing(lines, [], [], as_of=T, by="cross_family")
    # ana: b, c, d without ana at land; b bought it after 31 d.  sec: a (60), b (152), d
    assert [(r["cross_family"], r["accounts_landed"], r["accounts_cross_sold"], r["median_days"]) for r in cross] == [
        ("ana", 3, 1, 31),
        ("sec", 3, 2, 106),
    ]
    assert cross[1]["premature_cross_sells"] == 1  # a's sec after 60 days

    pairs = timing(lines, [], [], as_of=T, by="pair")
    # "sec → ana" (c) has no event -> not listed; "core → ana": b, d; "core → sec": a, b, d
    assert [(r["pair"], r["accounts_landed"], r["accounts_cross_sold"]) for r in pairs] == [
        ("ana → sec", 1, 1),
        ("core → ana", 2, 1),
        ("core → sec", 3, 2),
    ]
    cohort = timing(lines, [], [], as_of=T, by="cohort")
    assert [(r["cohort"], r["accounts_landed"]) for r in cohort] == [("2024-Q1", 3), ("2024-Q3", 1)]
    fiscal = timing(lines, [], [], as_of=T, by="cohort", fiscal_year_start_month=4)
    # FY from April: 2024-01-01 is FY2024 Q4, 2024-07-01 is FY2025 Q2
    assert [r["cohort"] for r in fiscal] == ["2024-Q4", "2025-Q2"]
    [overall] = timing(lines, [], [], as_of=T)
    assert overall["premature_cross_sells"] == 2  # a sec 60, b ana 31 (b sec 152 is not)


# ------------------------------------------------------------------ retention


def test_spec_retention_example():
    T = D("2025-06-30")  # S = T - 365 days = 2024-06-30
    lines = []
    for i in range(500):  # two-product accounts, 25 churn on 2025-01-01
        end = "2025-01-01" if i < 25 else None
        lines.append(L(f"two{i}", "core", "2024-01-01", amount=10000, end=end))
        lines.append(L(f"two{i}", "ana", "2024-01-01", amount=5000, end=end))
    for i in range(500):  # one-product accounts, 90 churn
        lines.append(L(f"one{i}", "core", "2024-01-01", amount=10000, end="2025-01-01" if i < 90 else None))
    lines.append(L("late", "core", "2024-07-01", amount=777))  # not a customer on S: not in the cohort
    rows = retention(lines, [], [], as_of=T)
    assert [r["products_owned"] for r in rows] == ["1", "2", "3+", "all"]
    one, two, three, allr = rows
    assert list(one) == ["products_owned", "accounts", "start_arr", "end_arr", "logo_retention", "grr", "nrr"]
    # 475 of 500 retained at flat ARR -> 95%; 410 of 500 -> 82%
    assert (two["accounts"], two["start_arr"], two["end_arr"]) == (500, 7_500_000, 7_125_000)
    assert two["logo_retention"] == pytest.approx(0.95) and two["grr"] == pytest.approx(0.95)
    assert two["nrr"] == pytest.approx(0.95)
    assert (one["accounts"], one["start_arr"], one["end_arr"]) == (500, 5_000_000, 4_100_000)
    assert one["logo_retention"] == pytest.approx(0.82) and one["nrr"] == pytest.approx(0.82)
    assert (three["accounts"], three["start_arr"], three["end_arr"]) == (0, 0, 0)
    assert three["logo_retention"] is None and three["grr"] is None and three["nrr"] is None
    # all: 885 / 1000; ARR 12.5M -> 11.225M
    assert allr["accounts"] == 1000 and allr["logo_retention"] == pytest.approx(0.885)
    assert allr["nrr"] == pytest.approx(11.225 / 12.5) and allr["grr"] == pytest.approx(11.225 / 12.5)


def test_retention_grr_vs_nrr_and_zero_amount_families():
    T = D("2025-06-30")
    lines = [
        L("x", "core", "2024-01-01", amount=100),
        L("x", "core", "2025-01-01", amount=50),  # 100 -> 150
        L("y", "core", "2024-01-01", amount=100, end="2025-01-01"),
        L("y", "core", "2025-01-01", amount=50),  # 100 -> 50
        L("y", "ana", "2024-01-01", amount=0.0),  # owned on S with amount 0 -> y is in bucket "2"
        L("z", "sec", "2024-01-01", amount=0.0),  # ARR 0 on S -> not in the cohort
    ]
    # v owns four families on S (50 each = 200) and drops one -> 150: bucket "3+"
    lines += [
        L("v", f, "2024-01-01", amount=50, end="2025-01-01" if f == "pay" else None)
        for f in ("core", "ana", "sec", "pay")
    ]
    one, two, three, allr = retention(lines, [], [], as_of=T)
    assert (one["accounts"], two["accounts"], three["accounts"], allr["accounts"]) == (1, 1, 1, 3)
    assert one["grr"] == 1.0 and one["nrr"] == 1.5
    assert two["grr"] == 0.5 and two["nrr"] == 0.5
    assert (three["start_arr"], three["end_arr"], three["grr"], three["nrr"]) == (200, 150, 0.75, 0.75)
    # all: grr = (min(150,100) + min(50,100) + min(150,200)) / 400 = 0.75; nrr = 350/400
    assert allr["grr"] == 0.75 and allr["nrr"] == 0.875 and allr["logo_retention"] == 1.0


# ------------------------------------------------------------------ forced bundles


def test_forced_bundles():
    lines = []
    for i in range(10):  # Core + Success on one contract
        lines += [
            L(f"f{i}", "core", "2024-01-01", contract=f"k{i}"),
            L(f"f{i}", "succ", "2024-02-01", contract=f"k{i}"),
        ]
    lines += [L("f10", "core", "2024-01-05"), L("f10", "succ", "2024-01-05")]  # no contract, same day
    lines += [L("f11", "succ", "2024-01-05")]  # Success alone
    lines += [L(f"f{i}", "core", "2024-01-01") for i in (12, 13, 14)]  # Core alone
    lines += [L("f15", "core", "2024-01-07", contract="m"), L("f15", "succ", "2024-01-07")]  # different deals
    lines += [L("f16", "succ", "2024-01-07", stage="lost", contract="k0")]  # lost: not a line
    # Success: 13 won lines, 11 with Core -> 0.846; Core: 15 lines, 11 with Success -> 0.733
    assert forced_bundles(lines, []) == set()
    assert forced_bundles(lines, [], share=0.84) == {("core", "succ")}
    assert forced_bundles(lines, [], share=0.84, min_lines=14) == set()
    assert forced_bundles(lines, [], share=0.7) == {("core", "succ"), ("succ", "core")}


# ------------------------------------------------------------------ whitespace


def whitespace_book():
    core = 1000.0
    lines = [
        L("s1", "core", "2024-01-01", amount=core),
        L("s1", "ana", "2024-01-01", amount=100),
        L("s2", "core", "2024-01-01", amount=core),
        L("s2", "ana-plus", "2024-01-01", amount=300),
        L("s3", "core", "2024-01-01", amount=core),
        L("s3", "sec", "2024-01-01", amount=400),
        L("s4", "core", "2024-01-01", amount=core),
        L("e1", "core", "2024-01-01", amount=core),
        L("e1", "sec", "2024-01-01", amount=800),
        L("e2", "core", "2024-01-01", amount=core),
        L("e2", "leg", "2024-01-01", amount=10),
        L("e3", "ana", "2024-01-01", amount=1000),
        L("x1", "core", "2024-01-01", amount=core),
        L("z", "ana", "2024-01-01", amount=10000, end="2024-03-01"),  # not a customer at T
    ]
    products = [
        P("core", "Core"),
        P("ana", "Analytics", 250.0),
        P("ana-plus", "Analytics", 450.0),
        P("sec", "Security"),
        P("leg", "Legacy", sellable=False),
        P("pay1", "Payroll", 200.0),
        P("pay2", "Payroll", 300.0, sellable=False),  # one sellable product is enough
    ]
    accounts = [A("s1", "SMB"), A("s2", "SMB"), A("s3", "SMB"), A("s4", "SMB", "Four Ltd"), A("z", "SMB")]
    accounts += [A("e1", "Ent"), A("e2", "Ent"), A("e3", "Ent")]
    return lines, products, accounts


def ws(rows, account):
    return [
        (r["family"], r["score"], r["expected_value"], r["reason"], r["rank"])
        for r in rows
        if r["account_id"] == account
    ]


def test_whitespace_by_hand():
    lines, products, accounts = whitespace_book()
    rows = whitespace(lines, products, accounts, as_of=D("2024-06-30"), min_base=3)
    assert list(rows[0]) == ["account_id", "account_name", "family", "score", "expected_value", "reason", "rank"]
    # customers: s1..s4, e1..e3, x1 (z ended); sorted by account_id then rank
    assert [r["account_id"] for r in rows] == sorted(r["account_id"] for r in rows)
    assert "z" not in {r["account_id"] for r in rows}
    assert not any(r["family"] == "Legacy" for r in rows)  # unsellable
    # s4 (SMB, owns Core): SMB Core base {s1..s4} = 4 >= 3 -> segment rates
    #   Analytics 2/4 x median SMB-customer Analytics lines [100, 300] = 200 -> 100
    #   Security  1/4 x median [400] = 400 -> 100 (tie: higher score ranks first)
    #   Payroll   0/4 x list price (median of 200, 300 = 250) -> 0
    assert ws(rows, "s4") == [
        ("Analytics", 0.5, 100.0, "owns Core; 50% of Core customers in SMB also own Analytics", 1),
        ("Security", 0.25, 100.0, "owns Core; 25% of Core customers in SMB also own Security", 2),
        ("Payroll", 0.0, 0.0, "owns Core; 0% of Core customers in SMB also own Payroll", 3),
    ]
    assert only(rows, account_id="s4", family="Payroll")["account_name"] == "Four Ltd"
    # e2 (Ent, owns Core + Legacy): Ent Core base {e1, e2} = 2 < 3 -> whole book, Core base 7
    #   (s1..s4, e1, e2, x1): Analytics 2/7, Security 2/7; Legacy base {e2}: 0/1 for everything.
    #   Ent-customer medians: Analytics [1000] -> 285.71; Security [800] -> 228.57
    #   Payroll: Core 0/7 and Legacy 0/1 tie -> the alphabetically first base, Core
    assert ws(rows, "e2") == [
        (
            "Analytics",
            pytest.approx(2 / 7),
            pytest.approx(2000 / 7),
            "owns Core; 29% of Core customers also own Analytics",
            1,
        ),
        (
            "Security",
            pytest.approx(2 / 7),
            pytest.approx(1600 / 7),
            "owns Core; 29% of Core customers also own Security",
            2,
        ),
        ("Payroll", 0.0, 0.0, "owns Core; 0% of Core customers also own Payroll", 3),
    ]
    # x1 (no account row, no segment): whole book; overall customer medians
    #   Analytics [100, 300, 1000] -> 300 -> 2/7*300 = 85.71; Security [400, 800] -> 600 -> 171.43
    x1 = ws(rows, "x1")
    assert [(f, rank) for f, _s, _e, _r, rank in x1] == [("Security", 1), ("Analytics", 2), ("Payroll", 3)]
    assert x1[0][2] == pytest.approx(600 * 2 / 7) and x1[1][2] == pytest.approx(300 * 2 / 7)
    assert only(rows, account_id="x1", family="Security")["account_name"] is None
    # e3 (Ent, owns Analytics): Ent base 1 -> whole book Analytics base {s1, s2, e3}: Core 2/3
    #   Ent-customer Core lines [1000, 1000] -> 1000 -> 666.67
    assert ws(rows, "e3")[0][:3] == ("Core", pytest.approx(2 / 3), pytest.approx(2000 / 3))

    # the non-customer z's 10 000 Analytics line only counts when typical ARR uses all accounts
    alls = whitespace(lines, products, accounts, as_of=D("2024-06-30"), min_base=3, typical_population="all")
    assert only(alls, account_id="s4", family="Analytics")["expected_value"] == 0.5 * 300  # [100, 300, 10000]


def test_whitespace_forced_pairs_and_min_base():
    lines, products, accounts = whitespace_book()
    T = D("2024-06-30")
    rows = whitespace(lines, products, accounts, as_of=T, min_base=3, forced_pairs={("Core", "Analytics")})
    # s4 owns only Core: Core -> Analytics is no evidence -> score 0, no reason
    r = only(rows, account_id="s4", family="Analytics")
    # ranks: Security 100 first; Analytics and Payroll tie at 0 / score 0 -> by name
    assert (r["score"], r["expected_value"], r["reason"], r["rank"]) == (0.0, 0.0, None, 2)
    # e2 still has Legacy -> Analytics (0/1) as evidence
    r = only(rows, account_id="e2", family="Analytics")
    assert r["score"] == 0.0 and r["reason"] == "owns Legacy; 0% of Legacy customers also own Analytics"
    # min_base 5: the SMB Core base (4) is too small -> whole book for s4: Analytics 2/7
    rows = whitespace(lines, products, accounts, as_of=T, min_base=5)
    r = only(rows, account_id="s4", family="Analytics")
    assert r["score"] == pytest.approx(2 / 7) and r["reason"] == "owns Core; 29% of Core customers also own Analytics"
    assert r["expected_value"] == pytest.approx(200 * 2 / 7)  # typical ARR still from the segment


def test_whitespace_reason_rounding_is_python_round():
    # 8 Core customers, 1 owns B -> 12.5% -> round() gives 12 (banker's rounding)
    lines = [L(f"c{i}", "core", "2024-01-01") for i in range(8)] + [L("c0", "b", "2024-01-01")]
    rows = whitespace(lines, [], [], min_base=3)
    assert only(rows, account_id="c1", family="b")["reason"] == "owns core; 12% of core customers also own b"


# ------------------------------------------------------------------ summary


def summary_book():
    return [
        L("a", "core", "2023-06-01", amount=1000),
        L("a", "ana", "2024-03-01", amount=500),  # cross-sell in the window, 274 days after land
        L("b", "core", "2023-06-01", amount=1000),
        L("b", "sec", "2023-06-01", amount=200),
        L("b", "core", "2024-05-01", amount=300),  # upsell in the window
        L("b", "ana", "2024-06-01", amount=900, stage="lost"),  # a lost cross-sell attempt
        L("c", "core", "2024-02-01", amount=1000),  # new in the window
        L("c", "core", "2024-03-01", stage="lost"),  # lost, but Core was bought before: no attempt
        L("c", "pay", "2024-02-01", stage="lost"),  # lost on the land day: not landed before
        L("d", "core", "2023-01-01", amount=1000, end="2023-06-01"),
        L("d", "ana", "2023-03-01", amount=100, end="2023-06-01"),  # cross-sell after 59 days
        L("e", "core", "2024-05-01", stage="lost"),  # never landed
        L("a", "sec", "2025-03-01", stage="lost"),  # after T
    ]


def test_summary_by_hand():
    T = D("2024-12-31")  # window (2024-01-01, 2024-12-31]
    rows = summary(summary_book(), [], [], as_of=T)
    assert [r["kpi"] for r in rows] == [
        "cross_sell_rate", "multi_product_rate", "cross_sell_revenue_share", "median_days_to_cross_sell",
        "cross_sell_win_rate",
    ]  # fmt: skip
    assert list(rows[0]) == ["kpi", "value", "good_low", "good_high", "status"]
    got = {r["kpi"]: (r["value"], r["good_low"], r["good_high"], r["status"]) for r in rows}
    # customers at T: a {core, ana}, b {core, sec}, c {core}; a cross-sold in the window -> 1/3
    assert got["cross_sell_rate"] == (pytest.approx(1 / 3), 0.15, 0.30, "above")
    assert got["multi_product_rate"] == (pytest.approx(2 / 3), 0.40, 0.60, "above")
    # won in the window: a ana 500 (cs), b core 300 (upsell), c core 1000 (new) -> 500/1800
    assert got["cross_sell_revenue_share"] == (pytest.approx(500 / 1800), 0.20, 0.40, "within")
    # KM: d event 59 (4 at risk -> 0.75), a event 274 (a, b 579, c 334 at risk -> 0.5) -> 274
    assert got["median_days_to_cross_sell"] == (274, 180, 365, "within")
    # won cross-sell lines 1 (a ana), lost attempts 1 (b ana) -> 0.5, inclusive bound -> within
    assert got["cross_sell_win_rate"] == (0.5, 0.30, 0.50, "within")

    no_stage = [dict(li, stage=None) for li in summary_book() if li["stage"] == "won"]
    rows = summary(no_stage, [], [], as_of=T)
    assert rows[4]["value"] is None and rows[4]["status"] is None
    assert rows[0]["value"] == pytest.approx(1 / 3)


def test_zero_denominators_give_none():
    # nobody is a customer at T (everything ended): rates are None, never 0 or a crash
    lines = [L("a", "core", "2024-01-01", amount=100, end="2024-02-01")]
    T = D("2024-06-30")
    s = {r["kpi"]: r["value"] for r in summary(lines, [], [], as_of=T)}
    assert s["cross_sell_rate"] is None and s["multi_product_rate"] is None
    assert s["cross_sell_revenue_share"] == 0.0  # 0 / 100
    assert s["median_days_to_cross_sell"] is None and s["cross_sell_win_rate"] is None
    assert whitespace(lines, [], [], as_of=T) == []
    rows = retention(lines, [], [], as_of=T)
    assert all(r["accounts"] == 0 and r["nrr"] is None for r in rows)
    rows = expansion(lines, [], [], as_of=T)
    assert all(r["cross_sell_share"] is None for r in rows)
    [t] = timing(lines, [], [], as_of=T)
    assert t["median_days"] is None and t["within_90d"] == 0.0 and t["premature_early_churn_rate"] is None


# ------------------------------------------------------------------ the shipped sample book


@pytest.mark.skipif(not (SAMPLE / "line_items.csv").exists(), reason="no sample_data")
def test_sample_book_identities_and_speed():
    li, prods, accts = load_canonical_csv(SAMPLE)
    t0 = time.perf_counter()
    pa = arr_movements_per_account(li, prods, accts)
    assert_identity(pa)
    rows = expansion(li, prods, accts, mode="arr")
    for m in MOVES:  # per-account movements add up to the book's
        assert sum(r[m] for r in rows) == pytest.approx(sum(r[m] for r in pa))
    for r in rows:
        assert r["new"] >= 0 and r["cross_sell"] >= 0 and r["churn"] <= 0 and r["contraction"] <= 0
    by_fam = expansion(li, prods, accts, mode="arr", by="family")
    assert sum(r["cross_sell"] for r in by_fam) == pytest.approx(sum(r["cross_sell"] for r in rows))
    book = expansion(li, prods, accts, mode="bookings")
    by_seg = expansion(li, prods, accts, mode="bookings", by="segment")
    assert sum(r["upsell"] for r in by_seg) == pytest.approx(sum(r["upsell"] for r in book))
    [overall] = timing(li, prods, accts)
    cohorts = timing(li, prods, accts, by="cohort")
    assert sum(r["accounts_landed"] for r in cohorts) == overall["accounts_landed"]
    assert sum(r["accounts_cross_sold"] for r in cohorts) == overall["accounts_cross_sold"]
    ret = retention(li, prods, accts)
    assert ret[3]["accounts"] == sum(r["accounts"] for r in ret[:3])
    fb = forced_bundles(li, prods)
    w = whitespace(li, prods, accts, forced_pairs=fb)
    assert all(0 <= r["score"] <= 1 for r in w)
    summary(li, prods, accts)
    assert time.perf_counter() - t0 < 60
