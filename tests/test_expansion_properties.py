"""ARR movements reconcile to the ARR change, for every account and period, on random books."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossell_cli.metrics.expansion import MOVEMENTS
from crossell_cli.metrics.periods import Calendar
from crossell_cli.model import build_model

from .conftest import book_from_rows
from .helpers import expansion

PRODUCTS = [
    {"product_id": "basic", "family": "Plan"},
    {"product_id": "pro", "family": "Plan"},
    {"product_id": "addon", "family": "Addon"},
    {"product_id": "extra", "family": "Extra"},
]
START = dt.date(2023, 1, 1)


@st.composite
def subscriptions(draw: st.DrawFn) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(1, 25))):
        start = START + dt.timedelta(days=draw(st.integers(0, 700)))
        length = draw(st.one_of(st.none(), st.integers(1, 500)))
        out.append(
            {
                "account_id": f"a{draw(st.integers(0, 3))}",
                "product_id": draw(st.sampled_from(["basic", "pro", "addon", "extra"])),
                "booked_at": start,
                "end_date": None if length is None else start + dt.timedelta(days=length),
                "amount": float(draw(st.integers(1, 1000))),
            }
        )
    return out


def arr(lines: list[dict], day: dt.date) -> float:
    return sum(
        line["amount"]
        for line in lines
        if line["booked_at"] <= day and (line["end_date"] is None or day < line["end_date"])
    )


@settings(max_examples=120, deadline=None)
@given(
    lines=subscriptions(),
    as_of_days=st.integers(30, 800),
    period=st.sampled_from(["month", "quarter", "year"]),
    fiscal=st.sampled_from([1, 2, 7]),
)
def test_movements_sum_to_the_arr_change_for_every_account_and_period(lines, as_of_days, period, fiscal):
    as_of = START + dt.timedelta(days=as_of_days)
    calendar = Calendar(period, fiscal)
    for account in sorted({line["account_id"] for line in lines}):
        own = [dict(line) for line in lines if line["account_id"] == account]
        model = build_model(book_from_rows(own, PRODUCTS), as_of=as_of, level="family")
        assert model is not None
        visible = [line for line in own if line["booked_at"] <= as_of]
        if not visible:
            continue
        frame = expansion(model, mode="arr", calendar=calendar)
        for row in frame.iter_rows(named=True):
            start = row["period_start"]
            first = calendar.index_of(start)
            close = min(calendar.end(first), as_of)
            before = start - dt.timedelta(days=1)
            change = arr(visible, close) - arr(visible, before)
            assert sum(row[m] for m in MOVEMENTS) == pytest.approx(change, abs=1e-6), (account, row)
            assert row["churn"] <= 0 and row["contraction"] <= 0
            assert row["new"] >= 0 and row["cross_sell"] >= 0 and row["upsell"] >= 0 and row["reactivation"] >= 0
            if row["cross_sell_share"] is not None:
                assert 0 <= row["cross_sell_share"] <= 1


@settings(max_examples=60, deadline=None)
@given(lines=subscriptions(), seed=st.integers(0, 1000))
def test_row_order_does_not_change_expansion(lines, seed):
    as_of = START + dt.timedelta(days=720)
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    first = expansion(
        build_model(book_from_rows(lines, PRODUCTS), as_of=as_of, level="family"),
        mode="arr",
        calendar=Calendar("quarter"),
    )
    second = expansion(
        build_model(book_from_rows(shuffled, PRODUCTS), as_of=as_of, level="family"),
        mode="arr",
        calendar=Calendar("quarter"),
    )
    assert first.equals(second)


def test_no_churn_is_dated_after_the_as_of_date():
    lines = [
        {
            "account_id": "a",
            "product_id": "basic",
            "booked_at": dt.date(2024, 1, 1),
            "end_date": dt.date(2025, 3, 1),
            "amount": 100.0,
        }
    ]
    model = build_model(book_from_rows(lines, PRODUCTS), as_of=dt.date(2024, 12, 31), level="family")
    frame = expansion(model, mode="arr", calendar=Calendar("quarter"))
    assert frame["churn"].sum() == 0
    assert frame["period"].to_list()[-1] == "2024-Q4"


FAMILY = {p["product_id"]: p["family"] for p in PRODUCTS}
SEGMENTS = [
    {"account_id": "a0", "segment": "SMB"},
    {"account_id": "a1", "segment": "SMB"},
    {"account_id": "a2", "segment": "ENT"},
]


@settings(max_examples=120, deadline=None)
@given(
    lines=subscriptions(),
    as_of_days=st.integers(30, 800),
    period=st.sampled_from(["month", "quarter", "year"]),
    by=st.sampled_from([None, "segment", "family"]),
    moved=st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_opening_plus_movements_is_closing_and_closing_is_the_arr(lines, as_of_days, period, by, moved):
    as_of = START + dt.timedelta(days=as_of_days)
    calendar = Calendar(period)
    model = build_model(book_from_rows(lines, PRODUCTS, SEGMENTS), as_of=as_of, level="family")
    assert model is not None
    # Some cross-sell lines counted as pass-through: their movement has a column of its own.
    cross = model.classified.filter(pl.col("kind") == "cross_sell").select("line_id", "account_id", "item").collect()
    pass_through = cross.filter(pl.Series(moved[: cross.height], dtype=pl.Boolean))
    frame = expansion(model, mode="arr", calendar=calendar, by=by, pass_through_lines=pass_through)  # type: ignore[arg-type]
    segment = {a["account_id"]: a["segment"] for a in SEGMENTS}
    visible = [line for line in lines if line["booked_at"] <= as_of]

    def group_of(line: dict) -> str | None:
        if by == "family":
            return FAMILY[line["product_id"]]
        if by == "segment":
            return segment.get(line["account_id"], "(none)")
        return None

    previous: dict = {}
    for row in frame.iter_rows(named=True):
        group = row[by] if by else None
        moves = sum(row[m] for m in MOVEMENTS) + row["cross_sell_pass_through"]
        assert row["opening_arr"] + moves == pytest.approx(row["closing_arr"], abs=1e-6), row
        close = min(calendar.end(calendar.index_of(row["period_start"])), as_of)
        own = [line for line in visible if group_of(line) == group]
        assert row["closing_arr"] == pytest.approx(arr(own, close), abs=1e-6), row
        assert row["opening_arr"] == previous.get(group, 0.0)  # chains: last period's closing
        previous[group] = row["closing_arr"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("xy"), st.integers(-(10**12), 10**12)),
        max_size=40,
    )
)
def test_running_totals_by_linear_scan_equal_the_window_definitions(rows):
    """runs.running and runs.had_before (linear scans over sorted rows) give exactly what a cum_sum and
    a cum_max over window groups give: the definitions they replace."""
    from crossell_cli.runs import had_before, running

    frame = (
        pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String, "units": pl.Int64}, orient="row")
        .with_row_index("i")
        .sort("a", "b", "i")
    )
    got = frame.select(
        running(pl.col("units"), "a", "b").alias("running"),
        had_before(pl.col("units") > 0, "a", "b").alias("had"),
        running(pl.col("units"), "a").alias("running_a"),
        had_before(pl.col("units") > 0, "a").alias("had_a"),
    )
    want = frame.select(
        pl.col("units").cum_sum().over("a", "b").alias("running"),
        (pl.col("units") > 0).shift(1).fill_null(False).cum_max().over("a", "b").alias("had"),
        pl.col("units").cum_sum().over("a").alias("running_a"),
        (pl.col("units") > 0).shift(1).fill_null(False).cum_max().over("a").alias("had_a"),
    )
    assert got.equals(want)
