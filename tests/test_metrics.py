"""expansion, timing, retention, whitespace and summary on tiny books worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossell_cli.metrics.periods import Calendar
from crossell_cli.model import build_model

from .conftest import book_from_rows, d
from .helpers import arr_added, as_of, attach_baseline, by_family, expansion, retention, summary, timing, whitespace


def model_of(lines, products=(), accounts=(), *, as_of=None, level="family"):
    book = book_from_rows(lines, products, accounts)
    model = build_model(book, as_of=d(as_of) if as_of else None, level=level)
    assert model is not None
    return model


def rows_by(frame: pl.DataFrame, key: str) -> dict:
    return {r[key]: r for r in frame.iter_rows(named=True)}


# ----------------------------------------------------------------------------- expansion


def spec_expansion_book(with_end_dates: bool) -> list[dict]:
    lines = []
    for i in range(1000):
        lines.append(
            {
                "account_id": f"a{i}",
                "product_id": "Core",
                "booked_at": "2024-01-15",
                "amount": 20_000.0,
                "contract_id": f"L{i}",
            }
        )
        if i < 350:
            lines.append(
                {
                    "account_id": f"a{i}",
                    "product_id": "Addon",
                    "booked_at": "2024-05-10",
                    "amount": 12_000.0,
                    "contract_id": f"X{i}",
                }
            )
    if with_end_dates:
        for line in lines:
            line["end_date"] = None
    return lines


@pytest.mark.parametrize("mode", ["bookings", "arr"])
def test_spec_worked_example_cross_sell_is_21_percent_of_the_base(mode):
    model = model_of(spec_expansion_book(mode == "arr"), as_of="2024-06-30")
    frame = rows_by(expansion(model, mode=mode, calendar=Calendar("quarter")), "period")
    assert frame["2024-Q1"]["new"] == 20_000_000
    q2 = frame["2024-Q2"]
    assert q2["cross_sell"] == 4_200_000
    assert q2["cross_sell"] / frame["2024-Q1"]["new"] == pytest.approx(0.21)
    assert q2["upsell"] == 0 and q2["expansion"] == 4_200_000 and q2["cross_sell_share"] == 1.0
    if mode == "bookings":
        assert q2["reactivation"] is None and q2["churn"] is None and q2["contraction"] is None
    else:
        assert q2["churn"] == 0 and q2["contraction"] == 0 and q2["reactivation"] == 0


ARR_BOOK = [
    # a: lands Q1, cross-sells Addon in Q2
    {"account_id": "a", "product_id": "Core", "booked_at": "2024-01-10", "amount": 100.0, "contract_id": "a1"},
    {"account_id": "a", "product_id": "Addon", "booked_at": "2024-04-05", "amount": 50.0, "contract_id": "a2"},
    # b: Basic -> Pro, tiers of one family, switched in Q2: upsell 50, never churn + new
    {
        "account_id": "b",
        "product_id": "Basic",
        "booked_at": "2024-01-10",
        "amount": 100.0,
        "end_date": "2024-05-01",
        "contract_id": "b1",
    },
    {"account_id": "b", "product_id": "Pro", "booked_at": "2024-05-01", "amount": 150.0, "contract_id": "b2"},
    # c: in and out inside Q1 (never at a snapshot), back in Q3: new in Q3
    {
        "account_id": "c",
        "product_id": "Core",
        "booked_at": "2024-01-20",
        "amount": 200.0,
        "end_date": "2024-03-15",
        "contract_id": "c1",
    },
    {"account_id": "c", "product_id": "Core", "booked_at": "2024-08-01", "amount": 200.0, "contract_id": "c2"},
    # d: churns in Q2, reactivates in Q3
    {
        "account_id": "d",
        "product_id": "Core",
        "booked_at": "2024-01-05",
        "amount": 300.0,
        "end_date": "2024-06-10",
        "contract_id": "d1",
    },
    {"account_id": "d", "product_id": "Core", "booked_at": "2024-09-01", "amount": 300.0, "contract_id": "d2"},
    # e: lands with two families (all new), drops Addon in Q3: contraction
    {"account_id": "e", "product_id": "Core", "booked_at": "2024-02-01", "amount": 100.0, "contract_id": "e1"},
    {
        "account_id": "e",
        "product_id": "Addon",
        "booked_at": "2024-02-01",
        "amount": 100.0,
        "end_date": "2024-07-15",
        "contract_id": "e1",
    },
    # f: started before 2024 and never ends: counted from its own quarter, never churns
    {"account_id": "f", "product_id": "Core", "booked_at": "2023-11-01", "amount": 100.0, "contract_id": "f1"},
]
ARR_PRODUCTS = [
    {"product_id": "Core"},
    {"product_id": "Addon"},
    {"product_id": "Basic", "family": "Plan"},
    {"product_id": "Pro", "family": "Plan"},
]


def test_arr_movements_worked_by_hand():
    model = model_of(ARR_BOOK, ARR_PRODUCTS, as_of="2024-09-30")
    frame = expansion(model, mode="arr", calendar=Calendar("quarter"))
    assert frame["period"].to_list() == ["2023-Q4", "2024-Q1", "2024-Q2", "2024-Q3"]
    assert frame["period_start"].to_list() == [d("2023-10-01"), d("2024-01-01"), d("2024-04-01"), d("2024-07-01")]
    got = {
        r["period"]: {m: r[m] for m in ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn")}
        for r in frame.iter_rows(named=True)
    }
    zero = {"new": 0.0, "reactivation": 0.0, "cross_sell": 0.0, "upsell": 0.0, "contraction": 0.0, "churn": 0.0}
    assert got["2023-Q4"] == {**zero, "new": 100.0}  # f
    assert got["2024-Q1"] == {**zero, "new": 700.0}  # a 100 + b 100 + d 300 + e 200; c came and went
    assert got["2024-Q2"] == {**zero, "cross_sell": 50.0, "upsell": 50.0, "churn": -300.0}
    assert got["2024-Q3"] == {**zero, "new": 200.0, "reactivation": 300.0, "contraction": -100.0}
    q2 = rows_by(frame, "period")["2024-Q2"]
    assert q2["expansion"] == 100.0 and q2["cross_sell_share"] == 0.5
    assert rows_by(frame, "period")["2024-Q3"]["cross_sell_share"] is None  # expansion 0: empty, not 0


def test_arr_by_family_and_by_segment_add_up_to_the_total():
    accounts = [{"account_id": x, "segment": "SMB" if x in "abc" else "ENT"} for x in "abcdef"]
    model = model_of(ARR_BOOK, ARR_PRODUCTS, accounts, as_of="2024-09-30")
    total = expansion(model, mode="arr", calendar=Calendar("quarter"))
    for by in ("family", "segment", "rep"):
        grouped = expansion(model, mode="arr", calendar=Calendar("quarter"), by=by)  # type: ignore[arg-type]
        summed = grouped.group_by("period").agg(
            pl.col("new", "churn", "cross_sell", "upsell", "contraction", "reactivation").sum()
        )
        joined = total.join(summed, on="period", suffix="_g")
        for m in ("new", "churn", "cross_sell", "upsell", "contraction", "reactivation"):
            assert joined[m].to_list() == pytest.approx(joined[f"{m}_g"].to_list()), (by, m)
    by_family = expansion(model, mode="arr", calendar=Calendar("quarter"), by="family")
    q3 = {r["family"]: r for r in by_family.filter(pl.col("period") == "2024-Q3").iter_rows(named=True)}
    assert q3["Addon"]["contraction"] == -100.0 and q3["Core"]["reactivation"] == 300.0


BRIDGE_BOOK = [
    # a: Core 100 from Jan 15; Addon 50 from May 1 until Aug 1 (a cross-sell, then gone)
    {"account_id": "a", "product_id": "Core", "booked_at": "2024-01-15", "amount": 100.0},
    {"account_id": "a", "product_id": "Addon", "booked_at": "2024-05-01", "end_date": "2024-08-01", "amount": 50.0},
    # b: Core 200 from Feb 1 until Jul 1 (churns in Q3)
    {"account_id": "b", "product_id": "Core", "booked_at": "2024-02-01", "end_date": "2024-07-01", "amount": 200.0},
    # c: Core 80 from Aug 15 (new in Q3)
    {"account_id": "c", "product_id": "Core", "booked_at": "2024-08-15", "amount": 80.0},
]


def test_arr_bridge_opening_plus_movements_is_closing_by_hand():
    model = model_of(
        BRIDGE_BOOK, accounts=[{"account_id": "a", "segment": "SMB"}, {"account_id": "b", "segment": "SMB"}]
    )
    assert as_of(model) == d("2024-08-15")
    frame = expansion(model, mode="arr", calendar=Calendar("quarter"))
    bridge = [(r["period"], r["opening_arr"], r["closing_arr"]) for r in frame.iter_rows(named=True)]
    # Q1: 0 + new 100 + 200 = 300; Q2: 300 + cross-sell 50 = 350;
    # Q3 (closes on T = Aug 15): 350 − 50 (Addon gone: contraction) − 200 (b churned) + 80 (c new) = 180
    assert bridge == [("2024-Q1", 0.0, 300.0), ("2024-Q2", 300.0, 350.0), ("2024-Q3", 350.0, 180.0)]
    q3 = rows_by(frame, "period")["2024-Q3"]
    assert (q3["contraction"], q3["churn"], q3["new"]) == (-50.0, -200.0, 80.0)
    by_segment = expansion(model, mode="arr", calendar=Calendar("quarter"), by="segment")
    got = {(r["period"], r["segment"]): (r["opening_arr"], r["closing_arr"]) for r in by_segment.iter_rows(named=True)}
    assert got == {
        ("2024-Q1", "(none)"): (0.0, 0.0),
        ("2024-Q1", "SMB"): (0.0, 300.0),
        ("2024-Q2", "(none)"): (0.0, 0.0),
        ("2024-Q2", "SMB"): (300.0, 350.0),
        ("2024-Q3", "(none)"): (0.0, 80.0),
        ("2024-Q3", "SMB"): (350.0, 100.0),
    }
    # by rep, and in bookings mode, there is no bridge: both columns empty
    for frame in (
        expansion(model, mode="arr", calendar=Calendar("quarter"), by="rep"),
        expansion(model, mode="bookings", calendar=Calendar("quarter")),
    ):
        assert frame["opening_arr"].is_null().all() and frame["closing_arr"].is_null().all()


def test_arr_added_is_counted_day_by_day_whatever_the_period():
    lines = [
        {"account_id": "a", "product_id": "Core", "booked_at": "2024-01-01", "amount": 100.0},
        # on from Apr 10 to May 20: inside Q2, so quarterly snapshots never see it; monthly ones do
        {"account_id": "a", "product_id": "Extra", "booked_at": "2024-04-10", "end_date": "2024-05-20", "amount": 40.0},
    ]
    model = model_of(lines, as_of="2024-09-30")
    quarterly = expansion(model, mode="arr", calendar=Calendar("quarter"))
    monthly = expansion(model, mode="arr", calendar=Calendar("month"))
    assert (quarterly["cross_sell"].sum(), monthly["cross_sell"].sum()) == (0.0, 40.0)  # the tables differ
    # day by day: new 100 on Jan 1, cross-sell 40 on Apr 10 (gone May 20): 40 of 140 added
    assert arr_added(model) == (40.0, 140.0)


def test_bookings_mode_kinds_and_periods():
    lines = [
        {"account_id": "x", "product_id": "A", "booked_at": "2024-01-05", "amount": 10.0, "contract_id": "k1"},
        {"account_id": "x", "product_id": "B", "booked_at": "2024-01-05", "amount": 20.0, "contract_id": "k1"},
        {"account_id": "x", "product_id": "C", "booked_at": "2024-08-01", "amount": 5.0, "contract_id": "k2"},
        {"account_id": "x", "product_id": "A", "booked_at": "2024-08-01", "amount": 7.0, "contract_id": "k2"},
        {"account_id": "x", "product_id": "D", "booked_at": "2024-09-01", "amount": 1.0, "stage": "lost"},
    ]
    frame = rows_by(expansion(model_of(lines), mode="bookings", calendar=Calendar("quarter")), "period")
    assert list(frame) == ["2024-Q1", "2024-Q2", "2024-Q3"]  # the empty quarter is listed
    assert (frame["2024-Q1"]["new"], frame["2024-Q1"]["cross_sell"]) == (30.0, 0.0)
    assert (frame["2024-Q2"]["new"], frame["2024-Q2"]["expansion"], frame["2024-Q2"]["cross_sell_share"]) == (
        0.0,
        0.0,
        None,
    )
    assert (frame["2024-Q3"]["cross_sell"], frame["2024-Q3"]["upsell"], frame["2024-Q3"]["cross_sell_share"]) == (
        5.0,
        7.0,
        5 / 12,
    )


def test_expansion_is_the_exact_sum_of_cross_sell_and_upsell():
    """0.1 + 0.2 is 0.30000000000000004 in floats; a spreadsheet shows that, not 0.3. The
    expansion column is summed as money (whole micro-units), like every other amount."""
    lines = [
        {"account_id": "x", "product_id": "A", "booked_at": "2024-01-05", "amount": 10.0, "contract_id": "k1"},
        {"account_id": "x", "product_id": "B", "booked_at": "2024-08-01", "amount": 795926.23, "contract_id": "k2"},
        {"account_id": "x", "product_id": "A", "booked_at": "2024-08-01", "amount": 1084995.89, "contract_id": "k2"},
    ]
    q3 = rows_by(expansion(model_of(lines), mode="bookings", calendar=Calendar("quarter")), "period")["2024-Q3"]
    assert (q3["cross_sell"], q3["upsell"]) == (795926.23, 1084995.89)
    assert repr(795926.23 + 1084995.89) == "1880922.1199999999"  # what a float sum shows
    assert repr(q3["expansion"]) == "1880922.12"


def test_fiscal_periods_and_labels():
    fiscal = Calendar("quarter", fiscal_year_start_month=2)
    assert fiscal.label(fiscal.index_of(dt.date(2024, 2, 15))) == "2025-Q1"
    assert fiscal.label(fiscal.index_of(dt.date(2024, 1, 15))) == "2024-Q4"
    assert fiscal.start(fiscal.index_of(dt.date(2024, 4, 30))) == dt.date(2024, 2, 1)
    assert Calendar("year", 7).label(Calendar("year", 7).index_of(dt.date(2024, 7, 1))) == "2025"
    assert Calendar("month", 7).label(Calendar("month", 7).index_of(dt.date(2024, 7, 9))) == "2024-07"
    assert Calendar("quarter").label(Calendar("quarter").index_of(dt.date(2024, 12, 31))) == "2024-Q4"


# ----------------------------------------------------------------------------- timing

TIMING_BOOK = [
    # (account, land, first cross-sell or None) -> days 30, 60, 60, censored 61, censored 60, 200
    ("a1", "2024-01-01", "2024-01-31"),
    ("a2", "2024-01-01", "2024-03-01"),
    ("a3", "2024-01-01", "2024-03-01"),
    ("a4", "2024-10-31", None),
    ("a5", "2024-11-01", None),
    ("a6", "2024-01-01", "2024-07-19"),
]


def timing_lines():
    lines = []
    for account, land, cross in TIMING_BOOK:
        lines.append({"account_id": account, "product_id": "Core", "booked_at": land, "contract_id": f"{account}-l"})
        if cross:
            lines.append(
                {"account_id": account, "product_id": "Addon", "booked_at": cross, "contract_id": f"{account}-x"}
            )
    return lines


def test_kaplan_meier_with_censoring_and_ties_worked_by_hand():
    model = model_of(timing_lines(), as_of="2024-12-31")
    row = timing(model, by=None, calendar=Calendar(), premature_days=90, early_churn_days=180).row(0, named=True)
    assert (row["group"], row["accounts_landed"], row["accounts_cross_sold"]) == ("all", 6, 4)
    # cross-sold days 30, 60, 60, 200 (numpy linear percentiles)
    assert [row["median_days"], row["p25_days"], row["p75_days"], row["p90_days"]] == pytest.approx(
        [60.0, 52.5, 95.0, 158.0]
    )
    # S(30) = 5/6; at 60: 2 events, 5 at risk (the censoring at 60 comes after) -> 5/6 · 3/5 = 1/2;
    # 61 censored; S(200) = 1/2 · (1 − 1/1) = 0
    assert row["within_90d"] == pytest.approx(0.5)
    assert row["within_180d"] == pytest.approx(0.5)
    assert row["within_365d"] == pytest.approx(1.0)
    assert row["km_median_days"] == 60.0
    # A naive "share of cross-sold within 90 days" would say 3/4: the estimate must not.
    assert row["within_90d"] != 0.75


def test_day_percentiles_are_decimals_not_float_noise():
    """Cross-sold after 10 and 23 days: p90 = 10 + 0.9 × 13 = 21.7 exactly, which a float
    interpolation gives as 21.700000000000003 (and a spreadsheet shows it so)."""
    lines = []
    for account, cross in (("a1", "2024-01-11"), ("a2", "2024-01-24")):
        lines.append(
            {"account_id": account, "product_id": "Core", "booked_at": "2024-01-01", "contract_id": f"{account}-l"}
        )
        lines.append({"account_id": account, "product_id": "Addon", "booked_at": cross, "contract_id": f"{account}-x"})
    row = timing(model_of(lines), by=None, calendar=Calendar(), premature_days=90, early_churn_days=180).row(
        0, named=True
    )
    assert [repr(row[c]) for c in ("median_days", "p25_days", "p75_days", "p90_days")] == [
        "16.5",
        "13.25",
        "19.75",
        "21.7",
    ]


def test_kaplan_meier_median_at_an_exact_half():
    # 24 accounts land on 2024-01-01 and cross-sell one each on days 78 + k (k = 1 … 24): the
    # 12th comes on day 90, leaving 12 of 24: S(90) = 23/24 · 22/23 · … · 12/13 = 12/24 = ½
    # exactly, so the median is day 90 and within_90d is 0.5. A running float product gives
    # 0.5000000000000001 there (and put the median at 91, within_90d at 0.4999999999999999).
    lines = []
    for k in range(1, 25):
        cross = dt.date(2024, 1, 1) + dt.timedelta(days=78 + k)
        lines.append({"account_id": f"a{k:02d}", "product_id": "Core", "booked_at": "2024-01-01"})
        lines.append({"account_id": f"a{k:02d}", "product_id": "Addon", "booked_at": cross})
    row = timing(
        model_of(lines, as_of="2024-12-31"), by=None, calendar=Calendar(), premature_days=90, early_churn_days=180
    ).row(0, named=True)
    assert (row["accounts_landed"], row["accounts_cross_sold"]) == (24, 24)
    assert row["km_median_days"] == 90.0
    assert row["within_90d"] == 0.5
    assert row["median_days"] == 90.5  # among the cross-sold: (90 + 91) / 2


def test_timing_premature_and_early_churn_rates():
    lines = [
        # p1: cross-sold 30 days after land and gone 100 days later: premature + early churn
        {"account_id": "p1", "product_id": "Core", "booked_at": "2024-01-01", "contract_id": "1"},
        {
            "account_id": "p1",
            "product_id": "Addon",
            "booked_at": "2024-01-31",
            "end_date": "2024-05-10",
            "contract_id": "2",
        },
        # p2: premature, still active
        {"account_id": "p2", "product_id": "Core", "booked_at": "2024-01-01", "contract_id": "3"},
        {"account_id": "p2", "product_id": "Addon", "booked_at": "2024-03-31", "contract_id": "4"},
        # o1: 200 days after land, ended after 300 days: not early
        {"account_id": "o1", "product_id": "Core", "booked_at": "2023-01-01", "contract_id": "5"},
        {
            "account_id": "o1",
            "product_id": "Addon",
            "booked_at": "2023-07-20",
            "end_date": "2024-05-15",
            "contract_id": "6",
        },
        # o2: 120 days after land, ended after 60 days: early churn, not premature
        {"account_id": "o2", "product_id": "Core", "booked_at": "2023-01-01", "contract_id": "7"},
        {
            "account_id": "o2",
            "product_id": "Addon",
            "booked_at": "2023-05-01",
            "end_date": "2023-06-30",
            "contract_id": "8",
        },
        # o3: 150 days after land, still active
        {"account_id": "o3", "product_id": "Core", "booked_at": "2023-01-01", "contract_id": "9"},
        {"account_id": "o3", "product_id": "Addon", "booked_at": "2023-05-31", "contract_id": "10"},
    ]
    row = timing(
        model_of(lines, as_of="2024-12-31"), by=None, calendar=Calendar(), premature_days=90, early_churn_days=180
    ).row(0, named=True)
    assert row["premature_cross_sells"] == 2
    assert row["premature_early_churn_rate"] == 0.5  # p1 of p1, p2
    assert row["other_early_churn_rate"] == pytest.approx(1 / 3)  # o2 of o1, o2, o3


def test_no_share_within_n_days_beyond_the_longest_follow_up():
    lines = [
        # old: landed 2024-01-01, cross-sold on day 30; new1: landed 2024-11-01, cross-sold on day 10;
        # new2: landed 2024-11-01, still waiting at T: censored at day 60
        {"account_id": "old", "product_id": "Core", "booked_at": "2024-01-01"},
        {"account_id": "old", "product_id": "Addon", "booked_at": "2024-01-31"},
        {"account_id": "new1", "product_id": "Core", "booked_at": "2024-11-01"},
        {"account_id": "new1", "product_id": "Addon", "booked_at": "2024-11-11"},
        {"account_id": "new2", "product_id": "Core", "booked_at": "2024-11-01"},
    ]
    cohorts = rows_by(
        timing(
            model_of(lines, as_of="2024-12-31"),
            by="cohort",
            calendar=Calendar(),
            premature_days=90,
            early_churn_days=180,
        ),
        "cohort",
    )
    # 2024-Q4: times 10 (event) and 60 (censored); S(10) = 1/2, and nobody was watched 90 days:
    # carrying S forward would claim within_365d = 50% after 60 days of watching.
    q4 = cohorts["2024-Q4"]
    assert (q4["within_90d"], q4["within_180d"], q4["within_365d"]) == (None, None, None)
    assert q4["km_median_days"] == 10.0
    # 2024-Q1: its one account was cross-sold on day 30, the curve is at 0: 100% within any N.
    q1 = cohorts["2024-Q1"]
    assert (q1["within_90d"], q1["within_180d"], q1["within_365d"]) == (1.0, 1.0, 1.0)
    # all: followed up to day 60, so within_90d is unknown too (2/3 seen so far).
    overall = timing(
        model_of(lines, as_of="2024-12-31"), by=None, calendar=Calendar(), premature_days=90, early_churn_days=180
    ).row(0, named=True)
    assert overall["within_90d"] is None and overall["km_median_days"] == 30.0


def test_early_churn_rates_are_empty_without_end_dates():
    lines = [
        {"account_id": "a", "product_id": "Core", "booked_at": "2024-01-01"},
        {"account_id": "a", "product_id": "Addon", "booked_at": "2024-02-01"},  # premature
        {"account_id": "b", "product_id": "Core", "booked_at": "2024-01-01"},
        {"account_id": "b", "product_id": "Addon", "booked_at": "2024-08-01"},  # not premature
    ]
    row = timing(
        model_of(lines, as_of="2024-12-31"), by=None, calendar=Calendar(), premature_days=90, early_churn_days=180
    ).row(0, named=True)
    assert row["premature_cross_sells"] == 1
    # no end date anywhere: nobody can be seen to leave, so the rates are unknown, not 0%
    assert (row["premature_early_churn_rate"], row["other_early_churn_rate"]) == (None, None)
    lines[1] = dict(lines[1], end_date="2024-04-01")  # one end date: churn can be seen now
    row = timing(
        model_of(lines, as_of="2024-12-31"), by=None, calendar=Calendar(), premature_days=90, early_churn_days=180
    ).row(0, named=True)
    assert (row["premature_early_churn_rate"], row["other_early_churn_rate"]) == (1.0, 0.0)


def test_timing_groupings():
    accounts = [{"account_id": a, "segment": "SMB" if a in ("a1", "a2", "a4") else "ENT"} for a, _, _ in TIMING_BOOK]
    model = model_of(timing_lines(), accounts=accounts, as_of="2024-12-31")
    by_segment = rows_by(
        timing(model, by="segment", calendar=Calendar(), premature_days=90, early_churn_days=180), "segment"
    )
    assert by_segment["SMB"]["accounts_landed"] == 3 and by_segment["SMB"]["accounts_cross_sold"] == 2
    by_cohort = rows_by(
        timing(model, by="cohort", calendar=Calendar(), premature_days=90, early_churn_days=180), "cohort"
    )
    assert by_cohort["2024-Q1"]["accounts_landed"] == 4 and by_cohort["2024-Q4"]["accounts_cross_sold"] == 0
    by_cross = rows_by(
        timing(model, by="cross_family", calendar=Calendar(), premature_days=90, early_churn_days=180), "cross_family"
    )
    assert by_cross["Addon"]["accounts_landed"] == 6 and by_cross["Addon"]["accounts_cross_sold"] == 4
    pairs = rows_by(timing(model, by="pair", calendar=Calendar(), premature_days=90, early_churn_days=180), "pair")
    assert list(pairs) == ["Core → Addon"] and pairs["Core → Addon"]["km_median_days"] == 60.0
    land = rows_by(
        timing(model, by="land_family", calendar=Calendar(), premature_days=90, early_churn_days=180), "land_family"
    )
    assert land["Core"]["accounts_landed"] == 6


# ----------------------------------------------------------------------------- retention


def test_spec_retention_example_two_products_95_one_product_82():
    lines = []
    for i in range(500):
        end = "2025-06-01" if i < 25 else None
        lines.append(
            {
                "account_id": f"two{i}",
                "product_id": "Core",
                "booked_at": "2024-01-01",
                "amount": 1000.0,
                "end_date": end,
            }
        )
        lines.append(
            {
                "account_id": f"two{i}",
                "product_id": "Addon",
                "booked_at": "2024-01-01",
                "amount": 500.0,
                "end_date": end,
            }
        )
        lines.append(
            {
                "account_id": f"one{i}",
                "product_id": "Core",
                "booked_at": "2024-01-01",
                "amount": 1000.0,
                "end_date": "2025-06-01" if i < 90 else None,
            }
        )
    frame = rows_by(retention(model_of(lines, as_of="2025-12-31"), window_days=365), "products_owned")
    assert list(frame) == ["1", "2", "3+", "all"]
    assert frame["2"]["logo_retention"] == pytest.approx(0.95)
    assert frame["1"]["logo_retention"] == pytest.approx(0.82)
    assert (frame["2"]["accounts"], frame["2"]["start_arr"], frame["2"]["end_arr"]) == (500, 750_000.0, 712_500.0)
    assert frame["2"]["grr"] == pytest.approx(0.95) and frame["2"]["nrr"] == pytest.approx(0.95)
    assert frame["3+"]["accounts"] == 0 and frame["3+"]["logo_retention"] is None and frame["3+"]["grr"] is None
    assert frame["all"]["accounts"] == 1000 and frame["all"]["logo_retention"] == pytest.approx(0.885)


def test_retention_grr_caps_growth_and_nrr_counts_it():
    lines = [
        {"account_id": "g", "product_id": "A", "booked_at": "2024-01-01", "amount": 100.0, "end_date": None},
        {"account_id": "g", "product_id": "B", "booked_at": "2025-03-01", "amount": 100.0, "end_date": None},
        {"account_id": "s", "product_id": "A", "booked_at": "2024-01-01", "amount": 100.0, "end_date": "2025-03-01"},
        {"account_id": "s", "product_id": "A", "booked_at": "2025-03-01", "amount": 40.0, "end_date": None},
    ]
    row = rows_by(retention(model_of(lines, as_of="2025-12-31"), window_days=365), "products_owned")["1"]
    # start 100 + 100; end 200 + 40; grr = (100 + 40) / 200; nrr = 240 / 200
    assert (row["start_arr"], row["end_arr"]) == (200.0, 240.0)
    assert row["grr"] == pytest.approx(0.7) and row["nrr"] == pytest.approx(1.2) and row["logo_retention"] == 1.0


# ----------------------------------------------------------------------------- whitespace


def whitespace_book():
    lines, accounts = [], []
    for i in range(10):  # SMB: 10 Core, 4 also Analytics (amounts 100, 200, 300, 400), 2 Payroll
        accounts.append({"account_id": f"s{i}", "account_name": f"Small {i}", "segment": "SMB"})
        lines.append({"account_id": f"s{i}", "product_id": "Core", "booked_at": "2024-01-01", "amount": 10.0})
        if i < 4:
            lines.append(
                {"account_id": f"s{i}", "product_id": "Analytics", "booked_at": "2024-03-01", "amount": 100.0 * (i + 1)}
            )
        if 4 <= i < 6:
            lines.append({"account_id": f"s{i}", "product_id": "Payroll", "booked_at": "2024-03-01", "amount": 50.0})
    for i in range(12):  # ENT: 12 Core, 9 also Analytics at 1 000
        accounts.append({"account_id": f"e{i}", "account_name": f"Big {i}", "segment": "ENT"})
        lines.append({"account_id": f"e{i}", "product_id": "Core", "booked_at": "2024-01-01", "amount": 10.0})
        if i < 9:
            lines.append(
                {"account_id": f"e{i}", "product_id": "Analytics", "booked_at": "2024-03-01", "amount": 1000.0}
            )
    products = [{"product_id": p} for p in ("Core", "Analytics", "Payroll")] + [
        {"product_id": "Old", "sellable": False}
    ]
    return lines, products, accounts


def test_attach_baseline_scores_by_hand():
    lines, products, accounts = whitespace_book()
    rows = attach_baseline(model_of(lines, products, accounts), min_base=10)
    s9 = rows_by(rows.filter(pl.col("account_id") == "s9"), "family")
    assert set(s9) == {"Analytics", "Payroll"}  # Old is not sellable; Core is owned
    assert s9["Analytics"]["score"] == pytest.approx(0.4)  # 4 of 10 SMB Core customers
    assert s9["Payroll"]["score"] == pytest.approx(0.2)
    e11 = rows_by(rows.filter(pl.col("account_id") == "e11"), "family")
    assert e11["Analytics"]["score"] == pytest.approx(0.75) and e11["Payroll"]["score"] == 0.0


def test_attach_baseline_small_segment_falls_back_to_the_whole_book():
    lines, products, accounts = whitespace_book()
    rows = attach_baseline(model_of(lines, products, accounts), min_base=11)
    s9 = rows.filter((pl.col("account_id") == "s9") & (pl.col("family") == "Analytics")).row(0, named=True)
    assert s9["score"] == pytest.approx(13 / 22)  # SMB base 10 < 11: Core 22, 13 own Analytics
    e11 = rows.filter((pl.col("account_id") == "e11") & (pl.col("family") == "Analytics")).row(0, named=True)
    assert e11["score"] == pytest.approx(0.75)


def test_attach_baseline_forced_bundle_pairs_are_no_evidence():
    lines, products, accounts = whitespace_book()
    forced = pl.DataFrame({"base_family": ["Core"], "family": ["Analytics"]})
    rows = attach_baseline(model_of(lines, products, accounts), min_base=10, forced_pairs=forced)
    s9 = rows.filter((pl.col("account_id") == "s9") & (pl.col("family") == "Analytics")).row(0, named=True)
    assert s9["score"] == 0.0  # Core was the only evidence


def test_whitespace_rows_values_reasons_and_ranks_by_hand():
    lines, products, accounts = whitespace_book()
    rows = whitespace(model_of(lines, products, accounts), min_base=10)
    s9 = rows_by(rows.filter(pl.col("account_id") == "s9"), "family")
    assert set(s9) == {"Analytics", "Payroll"}  # Old is not sellable; Core is owned
    # One day of history: no earlier snapshot to fit on, so the score is the cross-sell noisy-or.
    # Analytics: SMB Core customers whose Analytics was not in the land bundle: 10, 4 bought it
    # later; rate (4 + 10 ρ) / (10 + 10) with ρ_SMB = (4 + 10 ρ_book) / (10 + 10), ρ_book = 14 / 24.
    rho_book = (13 + 1) / (22 + 2)
    rho = (4 + 10 * rho_book) / 20
    assert s9["Analytics"]["score"] == pytest.approx((4 + 10 * rho) / 20)
    assert s9["Analytics"]["expected_value"] == pytest.approx(s9["Analytics"]["score"] * 250.0)  # SMB median
    assert s9["Analytics"]["reason"] == "owns Core; 4 of 10 SMB Core customers bought Analytics later (40%)"
    assert (s9["Analytics"]["rank"], s9["Payroll"]["rank"]) == (1, 2)
    assert s9["Analytics"]["account_name"] == "Small 9"
    # Owners of everything sellable have no rows.
    assert rows.filter(pl.col("account_id") == "s0").select("family").to_series().to_list() == ["Payroll"]


def test_whitespace_reason_min_base_applies_to_the_book_fallback_too():
    lines, products, accounts = whitespace_book()
    rows = whitespace(model_of(lines, products, accounts), min_base=23)  # no base has 23 customers
    s9 = rows.filter((pl.col("account_id") == "s9") & (pl.col("family") == "Analytics")).row(0, named=True)
    assert s9["reason"].startswith("no owned family with 23+ customers")
    rows = whitespace(model_of(lines, products, accounts), min_base=11)  # SMB 10 < 11: the book's 22
    s9 = rows.filter((pl.col("account_id") == "s9") & (pl.col("family") == "Analytics")).row(0, named=True)
    assert s9["reason"] == "owns Core; 13 of 22 Core customers bought Analytics later (59%)"


def test_whitespace_by_family_rollup():
    lines, products, accounts = whitespace_book()
    rows = whitespace(model_of(lines, products, accounts), min_base=10)
    rollup = rows_by(by_family(rows), "family")
    # Analytics non-owners: 6 SMB + 3 ENT, every one of them (no pruning)
    assert rollup["Analytics"]["non_owners"] == 9
    want = rows.filter(pl.col("family") == "Analytics")["expected_value"].sum()
    assert rollup["Analytics"]["whitespace_value"] == pytest.approx(want)


# ----------------------------------------------------------------------------- summary


def test_summary_kpis_by_hand():
    lines = [
        # x: landed 2024-01-01 (A), cross-sold B in the window, a lost C attempt in the window
        {"account_id": "x", "product_id": "A", "booked_at": "2024-01-01", "amount": 100.0, "stage": "won"},
        {"account_id": "x", "product_id": "B", "booked_at": "2025-03-01", "amount": 50.0, "stage": "won"},
        {"account_id": "x", "product_id": "C", "booked_at": "2025-04-01", "amount": 30.0, "stage": "lost"},
        # y: landed in the window with A+B (new, not cross-sell), upsell of A in the window
        {"account_id": "y", "product_id": "A", "booked_at": "2025-02-01", "amount": 100.0, "stage": "won"},
        {"account_id": "y", "product_id": "B", "booked_at": "2025-02-01", "amount": 100.0, "stage": "won"},
        {"account_id": "y", "product_id": "A", "booked_at": "2025-06-01", "amount": 50.0, "stage": "won"},
        # z: landed long ago, never cross-sold; a lost attempt before its land is not a cross-sell
        {"account_id": "z", "product_id": "A", "booked_at": "2023-06-01", "amount": 100.0, "stage": "won"},
        {"account_id": "w", "product_id": "C", "booked_at": "2025-05-01", "amount": 10.0, "stage": "lost"},
    ]
    frame = rows_by(
        summary(
            model_of(lines, as_of="2025-12-31"),
            window_days=365,
            has_stage=True,
            premature_days=90,
            early_churn_days=180,
        ),
        "kpi",
    )
    assert frame["cross_sell_rate"]["value"] == pytest.approx(1 / 3)  # x of x, y, z
    assert frame["multi_product_rate"]["value"] == pytest.approx(2 / 3)  # x and y own 2
    # window revenue: x B 50 (cross), y 100 + 100 (new) + 50 (upsell) -> 50 / 300
    assert frame["cross_sell_revenue_share"]["value"] == pytest.approx(50 / 300)
    assert frame["cross_sell_win_rate"]["value"] == pytest.approx(0.5)  # 1 won, 1 lost (x's C)
    # KM: x 425 days (event), y censored at 333, z censored at 944 -> S(425) = 1 − 1/2 -> median 425
    assert frame["median_days_to_cross_sell"]["value"] == 425.0
    assert frame["cross_sell_rate"]["status"] == "above"
    assert frame["cross_sell_revenue_share"]["status"] == "below"
    no_stage = rows_by(
        summary(
            model_of(lines, as_of="2025-12-31"),
            window_days=365,
            has_stage=False,
            premature_days=90,
            early_churn_days=180,
        ),
        "kpi",
    )
    assert no_stage["cross_sell_win_rate"]["value"] is None


def replenishment_lines(gap_days: int) -> list[dict]:
    """x buys A three times gap_days apart, then B (a cross-sell); y buys A twice. No end dates."""
    start = dt.date(2025, 1, 1)
    day = [start + dt.timedelta(days=gap_days * k) for k in range(3)]
    return [
        {"account_id": "x", "product_id": "A", "booked_at": day[0], "amount": 10.0},
        {"account_id": "x", "product_id": "A", "booked_at": day[1], "amount": 10.0},
        {"account_id": "x", "product_id": "A", "booked_at": day[2], "amount": 10.0},
        {"account_id": "x", "product_id": "B", "booked_at": day[2] + dt.timedelta(days=1), "amount": 10.0},
        {"account_id": "y", "product_id": "A", "booked_at": day[1], "amount": 10.0},
        {"account_id": "y", "product_id": "A", "booked_at": day[2], "amount": 10.0},
    ]


def summary_rows(lines, *, level="family"):
    model = model_of(lines, [{"product_id": "A", "family": "F"}, {"product_id": "B", "family": "G"}], level=level)
    frame = summary(model, window_days=365, has_stage=False, premature_days=90, early_churn_days=180)
    return rows_by(frame, "kpi")


def test_median_rebuy_days_by_hand():
    """Gaps between an account's consecutive purchase days of the same family, never across
    two families or two accounts (sorted, those rows sit next to each other too)."""
    from crossell_cli.metrics.summary import median_rebuy_days

    def line(account: str, product: str, day: str) -> dict[str, object]:
        return {"account_id": account, "product_id": product, "booked_at": day, "amount": 1.0}

    lines = [
        line("a", "X", "2025-01-01"),
        line("a", "X", "2025-01-11"),
        line("a", "X", "2025-01-11"),  # the same day twice is one purchase day
        line("a", "X", "2025-02-10"),  # gaps 10 and 30
        line("a", "Y", "2025-01-03"),
        line("a", "Y", "2025-01-05"),  # gap 2
        line("b", "X", "2025-01-05"),
        line("b", "Y", "2025-01-20"),  # two families, no gap
    ]
    # Gaps 2, 10, 30: the median is 10 (across the pairs' boundaries it would be 6).
    assert median_rebuy_days(model_of(lines, as_of="2025-12-31")).collect().item() == 10.0
    once = [line("a", "X", "2025-01-01"), line("b", "X", "2025-02-01"), line("b", "Y", "2025-03-01")]
    assert median_rebuy_days(model_of(once, as_of="2025-12-31")).collect().item() is None


@settings(max_examples=150, deadline=None)
@given(
    days=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["A", "B"]), st.integers(0, 40)),
        min_size=1,
        max_size=25,
    )
)
def test_median_rebuy_days_is_the_median_gap_between_each_pairs_distinct_days(days):
    """Against plain Python: each (account, family)'s distinct purchase days, sorted, and the
    median of the gaps between neighbours (lines booked after T count for nothing)."""
    from statistics import median

    from crossell_cli.metrics.summary import median_rebuy_days

    start = dt.date(2025, 1, 1)
    lines = [
        {"account_id": a, "product_id": p, "booked_at": (start + dt.timedelta(days=n)).isoformat(), "amount": 1.0}
        for a, p, n in days
    ]
    as_of = start + dt.timedelta(days=30)
    by_pair: dict[tuple[str, str], set[int]] = {}
    for a, p, n in days:
        if n <= 30:
            by_pair.setdefault((a, p), set()).add(n)
    gaps = [b - a for got in by_pair.values() for a, b in zip(sorted(got), sorted(got)[1:], strict=False)]
    got = median_rebuy_days(
        model_of(
            lines, [{"product_id": "A", "family": "F"}, {"product_id": "B", "family": "G"}], as_of=as_of.isoformat()
        )
    ).collect()
    assert got.item() == (float(median(gaps)) if gaps else None)


def test_summary_status_is_na_where_the_saas_ranges_do_not_apply():
    # Re-buys of F 30 days apart (x: 30, 30; y: 30), no end dates: replenishment, not renewal.
    rows = summary_rows(replenishment_lines(30))
    assert rows["cross_sell_rate"]["value"] == 0.5  # x of x, y: would be "above" 15–30%
    assert rows["cross_sell_rate"]["status"] == "n/a: not a subscription book"
    assert rows["multi_product_rate"]["status"] == "n/a: not a subscription book"
    assert rows["cross_sell_win_rate"]["status"] is None  # no value: nothing to say
    # 90 days apart is a contract's pace: judged as before
    judged = summary_rows(replenishment_lines(90))
    assert judged["cross_sell_rate"]["status"] == "above" and judged["multi_product_rate"]["status"] == "within"
    # an end date makes it a subscription book whatever the re-buys
    with_term = replenishment_lines(30)
    with_term[0] = dict(with_term[0], end_date="2025-01-20")
    assert summary_rows(with_term)["cross_sell_rate"]["status"] == "above"
    # at product level the family benchmarks never apply, and the details speak of products
    product = summary_rows(replenishment_lines(90), level="product")
    assert {r["status"] for r in product.values() if r["value"] is not None} == {"n/a at product level"}
    assert "bought a new product" in product["cross_sell_rate"]["detail"]
    assert product["multi_product_rate"]["detail"] == "customers owning 2+ products; 1.50 products per customer"
    assert "famil" not in product["cross_sell_rate"]["detail"] + product["multi_product_rate"]["detail"]


def test_summary_of_a_book_of_one_family_judges_nothing():
    """RavenStack's config folds three tiers into one family: no customer can buy a second, so a
    0% cross-sell rate is no 'below' (it was). Both customers own F (A and B are tiers of it)."""
    lines = [
        {
            "account_id": "x",
            "product_id": "A",
            "booked_at": dt.date(2025, 1, 1),
            "amount": 10.0,
            "end_date": dt.date(2026, 1, 1),
        },
        {
            "account_id": "x",
            "product_id": "B",
            "booked_at": dt.date(2025, 3, 1),
            "amount": 20.0,
            "end_date": dt.date(2026, 3, 1),
        },
        {
            "account_id": "y",
            "product_id": "A",
            "booked_at": dt.date(2025, 2, 1),
            "amount": 10.0,
            "end_date": dt.date(2026, 2, 1),
        },
    ]
    model = model_of(lines, [{"product_id": "A", "family": "F"}, {"product_id": "B", "family": "F"}])
    rows = rows_by(summary(model, window_days=365, has_stage=False, premature_days=90, early_churn_days=180), "kpi")
    assert rows["cross_sell_rate"]["value"] == 0.0 and rows["multi_product_rate"]["value"] == 0.0
    assert rows["cross_sell_rate"]["status"] == "n/a: one family in the book"
    assert rows["multi_product_rate"]["status"] == "n/a: one family in the book"
    assert rows["cross_sell_revenue_share"]["status"] == "n/a: one family in the book"
    assert rows["median_days_to_cross_sell"]["status"] is None  # no value: nothing to say
    # at product level the same book has two products: judged (at product level, n/a as ever)
    product = rows_by(
        summary(
            model_of(lines, [{"product_id": "A", "family": "F"}, {"product_id": "B", "family": "F"}], level="product"),
            window_days=365,
            has_stage=False,
            premature_days=90,
            early_churn_days=180,
        ),
        "kpi",
    )
    assert product["multi_product_rate"]["status"] == "n/a at product level"
