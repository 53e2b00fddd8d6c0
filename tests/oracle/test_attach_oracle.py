"""Tests of the attach oracle on tiny books whose answers are worked out by hand below."""

from __future__ import annotations

import math
import time
from datetime import date, timedelta

import pytest

from .attach_oracle import Z95, attach, classify_lines, default_as_of, load_canonical_csv, wilson

D = date.fromisoformat


def L(account, product, booked, *, stage="won", start=None, end=None, contract=None, amount=100.0):
    return {
        "account_id": account,
        "product_id": product,
        "booked_at": D(booked),
        "amount": amount,
        "start_date": D(start) if start else None,
        "end_date": D(end) if end else None,
        "contract_id": contract,
        "stage": stage,
        "line_id": None,
        "list_amount": None,
        "discount": None,
        "quantity": None,
        "rep": None,
    }


def P(product, family=None):
    return {
        "product_id": product,
        "family": family,
        "product_name": None,
        "list_price": None,
        "sellable": True,
    }


def pair(result, a, b):
    [row] = [r for r in result["pairs"] if r["base_family"] == a and r["target_family"] == b]
    return row


# ------------------------------------------------------------------ SPEC acceptance examples


def test_spec_core_analytics_035():
    # 1 000 accounts own Core; 350 of them also own Analytics; nobody else owns Analytics.
    lines = [L(f"c{i}", "core", "2024-01-01") for i in range(1000)]
    lines += [L(f"c{i}", "analytics", "2024-02-01") for i in range(350)]
    res = attach(lines, [])
    assert res["as_of"] == D("2024-02-01")
    assert res["customers"] == 1000
    r = pair(res, "core", "analytics")
    # attach = 350/1000 = 0.35; target_rate = 350/1000 = 0.35 -> lift = 1.0
    assert (r["base_accounts"], r["both_accounts"], r["target_accounts"]) == (1000, 350, 350)
    assert r["attach_rate"] == pytest.approx(0.35)
    assert r["target_rate"] == pytest.approx(0.35)
    assert r["lift"] == pytest.approx(1.0)
    # all 350 bought Analytics a month after Core
    assert (r["co_booked"], r["cross_sold_after"], r["before"]) == (0, 350, 0)
    assert r["cross_sell_attach"] == pytest.approx(0.35)
    # reverse: every Analytics owner owns Core -> 350/350 = 1.0, all Core-before
    r = pair(res, "analytics", "core")
    assert r["attach_rate"] == 1.0 and r["before"] == 350 and r["cross_sell_attach"] == 0.0
    # headline: 350 of 1000 own 2 families; mean = (650*1 + 350*2)/1000 = 1.35
    assert res["multi_product_rate"] == pytest.approx(0.35)
    assert res["items_per_customer"] == pytest.approx(1.35)
    # sorted by attach_rate desc: analytics->core (1.0) first
    assert [(r["base_family"], r["target_family"]) for r in res["pairs"]] == [
        ("analytics", "core"),
        ("core", "analytics"),
    ]


def test_spec_a_b_024_and_wilson_by_hand():
    # 500 customers use A, 120 of them also B; add 80 B-only customers.
    lines = [L(f"a{i}", "A", "2024-01-01") for i in range(500)]
    lines += [L(f"a{i}", "B", "2024-01-01") for i in range(120)]  # same day -> co_booked
    lines += [L(f"b{i}", "B", "2024-01-01") for i in range(80)]
    res = attach(lines, [])
    r = pair(res, "A", "B")
    assert r["attach_rate"] == pytest.approx(0.24)  # 120/500
    # customers = 580, B owners = 200 -> target_rate = 200/580; lift = 0.24*580/200 = 0.696
    assert res["customers"] == 580
    assert r["target_rate"] == pytest.approx(200 / 580)
    assert r["lift"] == pytest.approx(0.696)
    assert (r["co_booked"], r["cross_sold_after"], r["before"]) == (120, 0, 0)
    # Wilson by hand, n = 500, p = 0.24, z^2 = 3.8414588207:
    #   z^2/n = 0.0076829176, z^2/2n = 0.0038414588, 1/(1+z^2/n) = 0.9923756597
    #   centre = 0.2438414588 * 0.9923756597 = 0.2419823285
    #   p(1-p)/n = 0.0003648, z^2/(4n^2) = 0.0000038415, sqrt(sum) = 0.0192000380
    #   half = 1.959963985 * 0.0192000380 * 0.9923756597 = 0.0373444686
    #   -> [0.2046378599, 0.2793267972]  (textbook: 0.2047 - 0.2793)
    assert r["ci_low"] == pytest.approx(0.2046378599, abs=1e-8)
    assert r["ci_high"] == pytest.approx(0.2793267972, abs=1e-8)


def test_wilson_edges():
    assert wilson(0, 0) == (None, None)
    # p = 0, n = 4: centre = (z^2/8)/(1+z^2/4) and half equals it exactly -> low 0
    lo, hi = wilson(0, 4)
    z2 = Z95**2
    assert lo == 0.0
    assert hi == pytest.approx(2 * (z2 / 8) / (1 + z2 / 4))  # = 0.4898968...
    assert hi == pytest.approx(0.48989, abs=1e-5)
    lo, hi = wilson(4, 4)  # symmetric: [1 - 0.4899, 1]
    assert hi == 1.0 and lo == pytest.approx(1 - 0.48989, abs=1e-5)


# ------------------------------------------------------------------ sequence split


def sequence_book():
    return [
        # a1: A and B booked the same day on different contracts -> co_booked
        L("a1", "pA", "2024-01-01", contract="k1"),
        L("a1", "pB", "2024-01-01", contract="k2"),
        # a2: B a month later but on A's contract -> co_booked (same contract)
        L("a2", "pA", "2024-01-01", contract="k3"),
        L("a2", "pB", "2024-02-01", contract="k3"),
        # a3: B after A, other contract -> cross_sold_after
        L("a3", "pA", "2024-01-01", contract="k4"),
        L("a3", "pB", "2024-03-01", contract="k5"),
        # a4: B first, then A -> before
        L("a4", "pB", "2023-06-01"),
        L("a4", "pA", "2024-01-01"),
        # a5: A only
        L("a5", "pA", "2024-01-01"),
        # a6: B bought 2023-01, ended 2023-06, A 2024-01, B re-bought 2024-05: first B line
        #     is the 2023 one -> before
        L("a6", "pB", "2023-01-01", end="2023-06-01"),
        L("a6", "pA", "2024-01-01"),
        L("a6", "pB", "2024-05-01"),
        # a7: A, plus a B line that ended before T -> does not own B
        L("a7", "pA", "2024-01-01"),
        L("a7", "pB", "2024-02-01", end="2024-04-01"),
        # a8: A first line has two contracts on its first day; the smallest ("k6") matches B's
        L("a8", "pA", "2024-01-01", contract="k7"),
        L("a8", "pA", "2024-01-01", contract="k6"),
        L("a8", "pB", "2024-02-01", contract="k6"),
    ]


def test_sequence_split():
    res = attach(sequence_book(), [P("pA", "A"), P("pB", "B")], as_of=D("2024-06-30"))
    r = pair(res, "A", "B")
    # base = a1..a8 = 8; both = a1 a2 a3 a4 a6 a8 = 6
    # co: a1 (day), a2 (contract), a8 (contract) = 3; after: a3 = 1; before: a4, a6 = 2
    assert (r["base_accounts"], r["both_accounts"]) == (8, 6)
    assert (r["co_booked"], r["cross_sold_after"], r["before"]) == (3, 1, 2)
    assert r["cross_sell_attach"] == pytest.approx(1 / 8)
    r = pair(res, "B", "A")
    # base = B owners = 6 = both; co 3; A after B: a4, a6 = 2; before: a3 = 1
    assert (r["base_accounts"], r["both_accounts"]) == (6, 6)
    assert (r["co_booked"], r["cross_sold_after"], r["before"]) == (3, 2, 1)
    assert r["cross_sell_attach"] == pytest.approx(2 / 6)
    for r in res["pairs"]:
        assert r["co_booked"] + r["cross_sold_after"] + r["before"] == r["both_accounts"]


def test_contract_only_when_smallest_matches():
    # A's first-date contracts {k2, k9}, smallest k2; B's first contract k9 -> not co_booked
    lines = [
        L("x", "A", "2024-01-01", contract="k9"),
        L("x", "A", "2024-01-01", contract="k2"),
        L("x", "B", "2024-02-01", contract="k9"),
    ]
    r = pair(attach(lines, []), "A", "B")
    assert (r["co_booked"], r["cross_sold_after"], r["before"]) == (0, 1, 0)


# ------------------------------------------------------------------ population rules


def test_stage_as_of_activity_and_universe():
    lines = [
        L("a", "core", "2024-01-01"),
        L("a", "ana", "2024-02-01", stage="lost"),  # lost: ignored
        L("b", "core", "2024-01-15", end="2024-03-01"),  # ended at T exactly -> inactive
        L("b", "ana", "2024-01-15"),
        L("c", "ana", "2024-02-15", start="2024-04-01"),  # starts after T -> not owned
        L("d", "core", "2024-09-01", stage="open"),  # open: ignored, not in as-of
    ]
    products = [
        P("core", "Core"),
        P("ana", "Analytics"),
        P("sec", "Security"),
        P("x1", None),
    ]  # empty family -> "x1"
    # default T: max booked/start over won+lost = max(01-01, 02-01, 01-15, 02-15, 04-01)
    assert default_as_of(lines) == D("2024-04-01")
    res = attach(lines, products, as_of=D("2024-03-01"))
    # owners at T=03-01: a: Core; b: Analytics (Core ended 03-01, exclusive); c: nothing
    assert res["customers"] == 2
    assert res["multi_product_rate"] == 0.0 and res["items_per_customer"] == 1.0
    universe = {"Core", "Analytics", "Security", "x1"}
    assert {(r["base_family"], r["target_family"]) for r in res["pairs"]} == {
        (x, y) for x in universe for y in universe if x != y
    }
    r = pair(res, "Core", "Analytics")
    assert (r["base_accounts"], r["both_accounts"], r["attach_rate"]) == (1, 0, 0.0)
    assert r["target_rate"] == 0.5 and r["lift"] == 0.0
    assert r["ci_low"] == 0.0
    r = pair(res, "Core", "Security")
    assert r["attach_rate"] == 0.0 and r["target_rate"] == 0.0 and r["lift"] is None
    r = pair(res, "Security", "Core")
    assert r["attach_rate"] is None and r["ci_low"] is None and r["cross_sell_attach"] is None
    assert r["lift"] is None and r["target_rate"] == 0.5
    # sort: non-None attach first (all 0.0 here, base 1 each -> by names), None last
    keys = [(r["attach_rate"] is None, r["base_family"], r["target_family"]) for r in res["pairs"]]
    assert keys == sorted(keys)
    assert res["pairs"][0]["base_family"] == "Analytics"


def test_level_product_and_missing_product():
    lines = [
        L("a", "core-s", "2024-01-01"),
        L("a", "core-l", "2024-02-01"),
        L("a", "mystery", "2024-02-01"),
        L("b", "core-s", "2024-01-01"),
    ]
    products = [P("core-s", "Core"), P("core-l", "Core")]
    fam = attach(lines, products)
    # family level: a owns {Core, mystery}, b {Core}; universe {Core, mystery}
    assert len(fam["pairs"]) == 2
    assert pair(fam, "Core", "mystery")["attach_rate"] == 0.5
    assert fam["items_per_customer"] == 1.5
    prod = attach(lines, products, level="product")
    # product level: a {core-s, core-l, mystery}, b {core-s} -> 3*2 = 6 pairs
    assert len(prod["pairs"]) == 6
    assert pair(prod, "core-s", "core-l")["attach_rate"] == 0.5
    assert prod["items_per_customer"] == 2.0 and prod["multi_product_rate"] == 0.5


def test_no_stage_column_means_all_won():
    lines = [dict(L("a", "A", "2024-01-01"), stage=None), dict(L("a", "B", "2024-05-01"), stage=None)]
    res = attach(lines, [])
    assert res["as_of"] == D("2024-05-01") and pair(res, "A", "B")["attach_rate"] == 1.0


def test_where_accounts_restricts_population():
    lines = [
        L("a", "A", "2024-01-01"),
        L("a", "B", "2024-01-01"),
        L("b", "A", "2024-01-01"),
        L("c", "B", "2024-06-01"),
    ]
    res = attach(lines, [], where_accounts={"a", "b"})
    # as-of from a, b only: 2024-01-01; customers a, b; B owners = {a}
    assert res["as_of"] == D("2024-01-01") and res["customers"] == 2
    r = pair(res, "A", "B")
    assert r["attach_rate"] == 0.5 and r["target_rate"] == 0.5 and r["lift"] == 1.0
    with pytest.raises(ValueError):  # empty population and no --as-of: no default T
        attach(lines, [], where_accounts=set())
    empty = attach(lines, [], where_accounts=set(), as_of=D("2024-01-01"))
    assert empty["pairs"] == [] and empty["multi_product_rate"] is None


# ------------------------------------------------------------------ classify


def test_classify_lines():
    lines = [
        L("x", "core", "2024-01-01", contract="K"),  # 0 land           -> new
        L("x", "ana", "2024-02-01", contract="K"),  # 1 land contract  -> new
        L("x", "core", "2024-03-01", contract="M"),  # 2 in land bundle -> upsell
        L("x", "sec", "2024-04-01", contract="N"),  # 3 first sec      -> cross_sell
        L("x", "sec", "2024-04-01", contract="O"),  # 4 same first day -> cross_sell
        L("x", "sec", "2024-06-01", contract="P"),  # 5 later sec      -> upsell
        L("x", "dlp", "2024-05-01", stage="lost"),  # lost             -> dropped
        L("x", "dlp", "2024-12-01"),  # after T          -> dropped
        L("y", "sec", "2024-02-01"),
        L("y", "ana", "2024-02-01"),  # both land -> new
    ]
    out = classify_lines(lines, [], as_of=D("2024-06-30"))
    assert [(r["account_id"], r["item"], r["kind"]) for r in out] == [
        ("x", "core", "new"),
        ("x", "ana", "new"),
        ("x", "core", "upsell"),
        ("x", "sec", "cross_sell"),
        ("x", "sec", "cross_sell"),
        ("x", "sec", "upsell"),
        ("y", "sec", "new"),
        ("y", "ana", "new"),
    ]
    assert all(r["land_date"] == D("2024-01-01") for r in out if r["account_id"] == "x")
    assert [r["in_land_bundle"] for r in out] == [True, True, False, False, False, False, True, True]


# ------------------------------------------------------------------ loader


def test_load_canonical_csv(tmp_path):
    (tmp_path / "line_items.csv").write_text(
        "account_id,product_id,booked_at,amount,end_date,discount,contract_id,stage,line_id\n"
        "001,p1,2024-01-01,1200.5,,0.1,,Won,\n"
        "002,p2,2024-02-01,300,2025-02-01,25,C9,LOST,L7\n",
        encoding="utf-8",
    )
    (tmp_path / "products.csv").write_text("product_id,family\np1,Core\np2,\n")
    li, prods, accts = load_canonical_csv(tmp_path)
    assert accts == []
    assert li[0]["account_id"] == "001" and li[0]["booked_at"] == D("2024-01-01")
    assert li[0]["amount"] == 1200.5 and li[0]["end_date"] is None
    assert li[0]["contract_id"] is None and li[0]["stage"] == "won" and li[0]["line_id"] == "1"
    assert li[0]["start_date"] is None and li[0]["quantity"] is None
    assert li[1]["discount"] == 0.25 and li[1]["stage"] == "lost" and li[1]["line_id"] == "L7"
    assert prods[1]["family"] is None and prods[0]["sellable"] is True
    (tmp_path / "line_items.csv").write_text("account_id,product_id,booked_at,amount\na,p1,2024-01-01,1\n")
    li, _, _ = load_canonical_csv(tmp_path)
    assert li[0]["stage"] is None


def test_handles_20000_lines_quickly():
    lines = []
    start = D("2022-01-01")
    for i in range(20000):
        a = f"acc{i % 4000}"
        lines.append(L(a, f"p{(i * 7) % 25}", str(start + timedelta(days=i % 700)), contract=f"k{i // 3}"))
    t0 = time.perf_counter()
    res = attach(lines, [P(f"p{j}", f"F{j % 10}") for j in range(25)])
    classify_lines(lines, [])
    assert time.perf_counter() - t0 < 10
    assert len(res["pairs"]) == 10 * 9
    assert all(r["co_booked"] + r["cross_sold_after"] + r["before"] == r["both_accounts"] for r in res["pairs"])
    assert all(r["ci_low"] is None or 0 <= r["ci_low"] <= r["attach_rate"] <= r["ci_high"] <= 1 for r in res["pairs"])
    assert not any(math.isnan(r["attach_rate"] or 0) for r in res["pairs"])
