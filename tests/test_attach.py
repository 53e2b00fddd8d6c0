"""attach on tiny books worked out by hand, SPEC's worked examples included."""

from __future__ import annotations

import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crossell_cli.metrics.attach import matrix, visible_pairs
from crossell_cli.model import build_model

from .conftest import book_from_rows, d
from .helpers import as_of, attach


def pairs_of(lines, products=(), *, as_of=None, level="family", where=(), accounts=(), bases=None):
    book = book_from_rows(lines, products, accounts)
    model = build_model(book, as_of=d(as_of) if as_of else None, level=level, where=where)
    assert model is not None
    return attach(model, bases=bases)


def row(pairs: pl.DataFrame, a: str, b: str) -> dict:
    found = pairs.filter((pl.col("base_family") == a) & (pl.col("target_family") == b))
    assert found.height == 1, f"no single row for {a}->{b}"
    return found.row(0, named=True)


def test_spec_example_core_analytics():
    # 1 000 accounts own Core; 350 of them also own Analytics; nobody else owns it.
    lines = [{"account_id": f"a{i}", "product_id": "Core", "booked_at": "2024-01-01"} for i in range(1000)]
    lines += [{"account_id": f"a{i}", "product_id": "Analytics", "booked_at": "2024-03-01"} for i in range(350)]
    pairs, head = pairs_of(lines)
    core_analytics = row(pairs, "Core", "Analytics")
    assert core_analytics["base_accounts"] == 1000
    assert core_analytics["both_accounts"] == 350
    assert core_analytics["attach_rate"] == pytest.approx(0.35)
    assert core_analytics["target_rate"] == pytest.approx(0.35)  # 350 of 1 000 customers
    assert core_analytics["lift"] == pytest.approx(1.0)
    assert core_analytics["cross_sold_after"] == 350
    assert core_analytics["cross_sell_attach"] == pytest.approx(0.35)
    assert row(pairs, "Analytics", "Core")["attach_rate"] == 1.0
    assert head.customers == 1000
    assert head.multi_product_rate == pytest.approx(0.35)
    assert head.items_per_customer == pytest.approx(1.35)


def test_spec_example_500_a_customers_120_b():
    # 500 customers use A, 120 of them also use B -> 0.24; 80 more use only B.
    lines = [{"account_id": f"a{i}", "product_id": "A", "booked_at": "2024-01-01"} for i in range(500)]
    lines += [{"account_id": f"a{i}", "product_id": "B", "booked_at": "2024-01-01"} for i in range(120)]
    lines += [{"account_id": f"b{i}", "product_id": "B", "booked_at": "2024-01-01"} for i in range(80)]
    pairs, _ = pairs_of(lines)
    a_b = row(pairs, "A", "B")
    assert a_b["attach_rate"] == pytest.approx(0.24)
    # target_rate = 200 B owners / 580 customers; lift = 0.24 / (200/580) = 0.696
    assert a_b["target_rate"] == pytest.approx(200 / 580)
    assert a_b["lift"] == pytest.approx(0.24 * 580 / 200)
    # Wilson 95% for 120/500, worked by hand from the formula: 0.204638 .. 0.279327
    assert a_b["ci_low"] == pytest.approx(0.2046378599, abs=1e-9)
    assert a_b["ci_high"] == pytest.approx(0.2793267972, abs=1e-9)
    # All bought the same day, without contracts: co-booked, not cross-sold.
    assert (a_b["co_booked"], a_b["cross_sold_after"], a_b["before"]) == (120, 0, 0)


SEQUENCE_BOOK = [
    # acct1: A and B on one contract, one day -> co_booked
    {"account_id": "acct1", "product_id": "A", "booked_at": "2024-01-01", "contract_id": "C1"},
    {"account_id": "acct1", "product_id": "B", "booked_at": "2024-01-01", "contract_id": "C1"},
    # acct2: B two months after A -> cross_sold_after
    {"account_id": "acct2", "product_id": "A", "booked_at": "2024-01-01", "contract_id": "C2"},
    {"account_id": "acct2", "product_id": "B", "booked_at": "2024-03-01", "contract_id": "C3"},
    # acct3: B first -> before
    {"account_id": "acct3", "product_id": "B", "booked_at": "2023-06-01", "contract_id": "C4"},
    {"account_id": "acct3", "product_id": "A", "booked_at": "2024-01-01", "contract_id": "C5"},
    # acct4: B added to A's contract a month later -> co_booked (same contract)
    {"account_id": "acct4", "product_id": "A", "booked_at": "2024-01-01", "contract_id": "C6"},
    {"account_id": "acct4", "product_id": "B", "booked_at": "2024-02-01", "contract_id": "C6"},
    # acct5: A only
    {"account_id": "acct5", "product_id": "A", "booked_at": "2024-01-01", "contract_id": "C7"},
    # acct6: B only
    {"account_id": "acct6", "product_id": "B", "booked_at": "2024-01-01", "contract_id": "C8"},
    # acct7: A, and a B that ended before T -> owns A only
    {"account_id": "acct7", "product_id": "A", "booked_at": "2024-01-01", "contract_id": "C9"},
    {
        "account_id": "acct7",
        "product_id": "B",
        "booked_at": "2024-02-01",
        "contract_id": "C10",
        "end_date": "2024-04-01",
    },
    # a lost B for acct5 and a B booked after T for acct5: neither counts
    {"account_id": "acct5", "product_id": "B", "booked_at": "2024-02-01", "stage": "lost"},
    {"account_id": "acct5", "product_id": "B", "booked_at": "2024-07-01", "stage": "won"},
]


def test_sequence_split_lift_and_end_dates():
    pairs, head = pairs_of(SEQUENCE_BOOK, as_of="2024-06-01")
    a_b = row(pairs, "A", "B")
    # A owners at T: acct1,2,3,4,5,7 = 6; of them B owners: 1,2,3,4 = 4
    assert (a_b["base_accounts"], a_b["both_accounts"]) == (6, 4)
    assert (a_b["co_booked"], a_b["cross_sold_after"], a_b["before"]) == (2, 1, 1)
    assert a_b["attach_rate"] == pytest.approx(4 / 6)
    assert a_b["cross_sell_attach"] == pytest.approx(1 / 6)
    # customers 7 (acct1..7); B owners 1,2,3,4,6 = 5 -> target 5/7; lift (4/6)/(5/7) = 0.9333
    assert a_b["target_rate"] == pytest.approx(5 / 7)
    assert a_b["lift"] == pytest.approx((4 / 6) / (5 / 7))
    b_a = row(pairs, "B", "A")
    assert (b_a["base_accounts"], b_a["both_accounts"]) == (5, 4)
    assert (b_a["co_booked"], b_a["cross_sold_after"], b_a["before"]) == (2, 1, 1)
    assert head.customers == 7
    assert head.multi_product_rate == pytest.approx(4 / 7)
    assert head.items_per_customer == pytest.approx(11 / 7)


def test_catalogue_family_without_owners_gives_empty_cells_not_zero():
    lines = [{"account_id": f"a{i}", "product_id": "A", "booked_at": "2024-01-01"} for i in range(3)]
    products = [{"product_id": "A"}, {"product_id": "Z", "family": "Zed"}]
    # Nobody owns A and Zed together: the full list leaves the pair out...
    pairs, _ = pairs_of(lines, products)
    assert pairs.is_empty()
    # ...and --base lists every target, zeros and owner-less families included.
    from_zed, _ = pairs_of(lines, products, bases=["Zed"])
    zed_a = row(from_zed, "Zed", "A")
    assert zed_a["base_accounts"] == 0
    assert zed_a["attach_rate"] is None and zed_a["ci_low"] is None and zed_a["lift"] is None
    assert zed_a["cross_sell_attach"] is None
    from_a, _ = pairs_of(lines, products, bases=["A"])
    a_zed = row(from_a, "A", "Zed")
    assert a_zed["attach_rate"] == 0.0
    assert a_zed["target_rate"] == 0.0
    assert a_zed["lift"] is None  # 0 / 0
    assert a_zed["ci_low"] == 0.0
    # Empty cells sort last.
    both_ways, _ = pairs_of(lines, products, bases=["A", "Zed"])
    assert both_ways["attach_rate"].to_list() == [0.0, None]


def test_family_level_merges_tiers_and_product_level_separates_them():
    products = [
        {"product_id": "core-s", "family": "Core"},
        {"product_id": "core-p", "family": "Core"},
        {"product_id": "ana", "family": "Analytics"},
    ]
    lines = [
        {"account_id": "x", "product_id": "core-s", "booked_at": "2024-01-01", "end_date": "2024-03-01"},
        {"account_id": "x", "product_id": "core-p", "booked_at": "2024-03-01"},
        {"account_id": "x", "product_id": "ana", "booked_at": "2024-05-01"},
        {"account_id": "y", "product_id": "core-s", "booked_at": "2024-01-01"},
    ]
    family, head = pairs_of(lines, products, as_of="2024-06-01")
    assert set(family["base_family"]) == {"Core", "Analytics"}
    assert row(family, "Core", "Analytics")["attach_rate"] == pytest.approx(0.5)
    assert head.items_per_customer == pytest.approx(1.5)
    product, _ = pairs_of(lines, products, as_of="2024-06-01", level="product")
    assert set(product["base_family"]) == {"core-p", "ana"}  # core-s has no co-owned pair
    # core-s is owned only by y at T (x's ended): no core-s -> ana, so no such row...
    assert product.filter(pl.col("base_family") == "core-s").is_empty()
    assert row(product, "core-p", "ana")["attach_rate"] == 1.0
    # ...but --base core-s shows the zero.
    from_s, _ = pairs_of(lines, products, as_of="2024-06-01", level="product", bases=["core-s"])
    assert row(from_s, "core-s", "ana")["attach_rate"] == 0.0


def test_where_restricts_population_but_not_as_of():
    lines = [
        {"account_id": "e1", "product_id": "A", "booked_at": "2024-01-01"},
        {"account_id": "e1", "product_id": "B", "booked_at": "2024-02-01"},
        {"account_id": "s1", "product_id": "A", "booked_at": "2024-01-01"},
        {"account_id": "s1", "product_id": "B", "booked_at": "2024-09-01"},
    ]
    accounts = [{"account_id": "e1", "segment": "Enterprise"}, {"account_id": "s1", "segment": "SMB"}]
    book = book_from_rows(lines, accounts=accounts)
    model = build_model(book, as_of=None, level="family", where=[("segment", "enterprise")])
    assert as_of(model) == d("2024-09-01")
    pairs, head = attach(model)
    assert head.customers == 1
    assert row(pairs, "A", "B")["attach_rate"] == 1.0


def test_sort_order_and_min_base_filter():
    lines = []
    for i in range(12):
        lines.append({"account_id": f"a{i}", "product_id": "A", "booked_at": "2024-01-01"})
        if i < 6:
            lines.append({"account_id": f"a{i}", "product_id": "B", "booked_at": "2024-02-01"})
    for i in range(3):
        lines.append({"account_id": f"c{i}", "product_id": "C", "booked_at": "2024-01-01"})
    pairs, _ = pairs_of(lines)
    rates = [r for r in pairs["attach_rate"].to_list() if r is not None]
    assert rates == sorted(rates, reverse=True)
    shown = visible_pairs(pairs, min_base=10, show_all=False)
    assert set(shown["base_family"]) == {"A"}  # B has 6 customers, C has 3
    assert visible_pairs(pairs, min_base=10, show_all=True).height == pairs.height
    only_b = visible_pairs(pairs, min_base=10, show_all=True).filter(pl.col("base_family") == "B")
    assert set(only_b["target_family"]) == {"A"}  # nobody owns B and C together
    from_b, _ = pairs_of(lines, bases=["B"])
    assert from_b.select("target_family", "attach_rate").rows() == [("A", 1.0), ("C", 0.0)]


def test_matrix_has_one_row_per_base_and_empty_diagonal():
    pairs, _ = pairs_of(SEQUENCE_BOOK, as_of="2024-06-01")
    grid = matrix(pairs)
    expected = pl.DataFrame(
        {"base_family": ["A", "B"], "base_accounts": [6, 5], "A": [None, 0.8], "B": [4 / 6, None]},
        schema={"base_family": pl.String, "base_accounts": pl.Int64, "A": pl.Float64, "B": pl.Float64},
    )
    assert_frame_equal(grid, expected)


def test_no_customers_at_all_is_not_a_crash():
    lines = [{"account_id": "a", "product_id": "A", "booked_at": "2024-01-01", "end_date": "2024-02-01"}]
    pairs, head = pairs_of(lines, as_of="2024-06-01")
    assert head.customers == 0
    assert head.multi_product_rate is None
    assert pairs.height == 0 or all(r is None for r in pairs["attach_rate"].to_list())


def test_wilson_bounds_are_exact_at_zero_and_one():
    lines = [{"account_id": f"a{i}", "product_id": "A", "booked_at": "2024-01-01"} for i in range(20)]
    lines += [{"account_id": f"a{i}", "product_id": "B", "booked_at": "2024-01-01"} for i in range(20)]
    lines += [{"account_id": "z", "product_id": "C", "booked_at": "2024-01-01"}]
    pairs, _ = pairs_of(lines, bases=["A"])
    assert row(pairs, "A", "B")["ci_high"] == 1.0
    assert row(pairs, "A", "C")["ci_low"] == 0.0
    # n = 20, p = 1: low = n / (n + z²) exactly
    z = 1.959963984540054
    assert row(pairs, "A", "B")["ci_low"] == pytest.approx(20 / (20 + z * z))
    assert not math.isnan(row(pairs, "A", "B")["ci_low"])


def test_intervals_are_exact_to_the_last_bit_whatever_the_batches():
    """ci_low is the Wilson bound as IEEE arithmetic gives it, on every run. Found by a review:
    computed after the sort, the streaming engine sometimes handed it one-row batches, on which
    Polars divides by the one-row column as by a scalar (multiplying by its reciprocal), one
    ulp off: 0.09453120573423068 instead of …074 for 1 of 2."""
    owned = [
        ("a0", "p2", "1955-09-13", "c1"),
        ("a1", "p2", "1952-09-26", "c2"),
        ("a3", "p3", "1963-07-18", "c1"),
        ("a4", "p1", "1961-07-28", "c4"),
        ("a4", "p3", "1964-01-12", "c4"),
        ("a4", "p4", "1958-02-08", "c3"),
        ("a6", "p1", "1956-03-02", "c3"),
        ("a7", "p4", "1950-11-03", "c2"),
    ]
    rows = [
        {"account_id": a, "product_id": p, "booked_at": d(day), "contract_id": c, "stage": "won"}
        for a, p, day, c in owned
    ]
    forced = pl.DataFrame(
        {
            "base_family": ["p1", "p2", "p2", "p2", "p3", "p3", "p4", "p4", "p4"],
            "family": ["p3", "p1", "p3", "p4", "p1", "p2", "p1", "p2", "p3"],
        }
    )
    model = build_model(book_from_rows(rows), as_of=d("1971-05-11"), level="product")
    # stats.wilson's operations in plain Python floats, for 1 success of 2
    z = 1.959963984540054
    n, p, z2 = 2.0, 0.5, z * z
    denom = 1 + z2 / n
    low = (p + z2 / (2 * n)) / denom - z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    assert low == 0.09453120573423074
    for _ in range(5):
        pairs, _ = attach(model, bases=["p3"], forced_bundles=forced)
        got = pairs.filter(pl.col("target_family") == "p1").select("both_accounts", "base_accounts", "ci_low")
        assert got.rows() == [(1, 2, low)]
