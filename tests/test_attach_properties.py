"""attach invariants on random books, and agreement with the independent oracle."""

from __future__ import annotations

import datetime as dt
import random
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossell_cli.metrics import pairs as pairs_module
from crossell_cli.model import build_model

from .conftest import SAMPLE, book_from_rows
from .helpers import as_of, attach
from .oracle import attach_oracle

PRODUCTS = [
    {"product_id": "p1", "family": "F1"},
    {"product_id": "p2", "family": "F1"},
    {"product_id": "p3", "family": "F2"},
    {"product_id": "p4", "family": "F3"},
    {"product_id": "p5", "family": "F4"},
]
BASE = dt.date(2024, 1, 1)


@st.composite
def lines(draw: st.DrawFn, max_lines: int = 40) -> list[dict]:
    n = draw(st.integers(min_value=0, max_value=max_lines))
    out = []
    for _ in range(n):
        booked = BASE + dt.timedelta(days=draw(st.integers(0, 200)))
        start_shift = draw(st.sampled_from([0, 0, 0, 15]))
        end = draw(st.one_of(st.none(), st.integers(1, 300)))
        out.append(
            {
                "account_id": f"a{draw(st.integers(0, 7))}",
                "product_id": draw(st.sampled_from(["p1", "p2", "p3", "p4", "p5", "p6"])),
                "booked_at": booked,
                "start_date": booked + dt.timedelta(days=start_shift),
                "end_date": None if end is None else booked + dt.timedelta(days=end),
                "contract_id": draw(st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3", "c4"]))),
                "stage": draw(st.sampled_from(["won", "won", "won", "lost"])),
                "amount": float(draw(st.integers(0, 5000))),
            }
        )
    return out


def ours(rows: list[dict], as_of: dt.date, level: str = "family") -> tuple[pl.DataFrame, object]:
    book = book_from_rows(rows, PRODUCTS)
    model = build_model(book, as_of=as_of, level=level)  # type: ignore[arg-type]
    assert model is not None
    return attach(model)


def oracle(rows: list[dict], as_of: dt.date, level: str = "family") -> dict:
    typed = []
    for i, r in enumerate(rows, start=1):
        typed.append({"line_id": str(i), "quantity": 1.0, "list_amount": None, "discount": None, **r})
    return attach_oracle.attach(typed, PRODUCTS, as_of=as_of, level=level)


AS_OF = st.integers(0, 260).map(lambda k: BASE + dt.timedelta(days=k))


@settings(max_examples=150, deadline=None)
@given(rows=lines(), as_of=AS_OF, level=st.sampled_from(["family", "product"]))
def test_matches_the_independent_oracle(rows, as_of, level):
    check_against_the_oracle(rows, as_of, level)


@settings(max_examples=100, deadline=None)
@given(rows=lines(), as_of=AS_OF, level=st.sampled_from(["family", "product"]))
def test_the_sparse_pair_count_matches_the_independent_oracle(rows, as_of, level):
    """The same check with the pairs counted by sparse products (the way a wide book takes)."""
    with mock.patch.object(pairs_module, "SPARSE_ITEMS", 0), mock.patch.object(pairs_module, "SPARSE_WIDTH", 0.0):
        check_against_the_oracle(rows, as_of, level)


def check_against_the_oracle(rows: list[dict], as_of: dt.date, level: str) -> None:
    pairs, head = ours(rows, as_of, level)
    expected = oracle(rows, as_of, level)
    assert head.customers == expected["customers"]
    if expected["customers"]:
        assert head.multi_product_rate == pytest.approx(expected["multi_product_rate"])
        assert head.items_per_customer == pytest.approx(expected["items_per_customer"])
    # The list holds the pairs at least one customer owns together.
    co_owned = [r for r in expected["pairs"] if r["both_accounts"] > 0]
    assert_same_pairs(pairs, co_owned)
    # --base lists every target of that base, zeros included.
    bases = sorted({r["base_family"] for r in expected["pairs"]})
    if bases:
        base = bases[len(rows) % len(bases)]
        book = book_from_rows(rows, PRODUCTS)
        model = build_model(book, as_of=as_of, level=level)  # type: ignore[arg-type]
        assert model is not None
        one_base, _ = attach(model, bases=[base])
        assert_same_pairs(one_base, [r for r in expected["pairs"] if r["base_family"] == base])


def assert_same_pairs(pairs: pl.DataFrame, expected: list[dict]) -> None:
    got = {(r["base_family"], r["target_family"]): r for r in pairs.iter_rows(named=True)}
    want = {(r["base_family"], r["target_family"]): r for r in expected}
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        for column in (
            "base_accounts",
            "both_accounts",
            "target_accounts",
            "co_booked",
            "cross_sold_after",
            "before",
        ):
            assert g[column] == w[column], (key, column)
        for column in ("attach_rate", "ci_low", "ci_high", "target_rate", "lift", "cross_sell_attach"):
            if w[column] is None:
                assert g[column] is None, (key, column)
            else:
                assert g[column] == pytest.approx(w[column], abs=1e-12), (key, column)
    # Same order too.
    assert list(got) == list(want)


@settings(max_examples=150, deadline=None)
@given(rows=lines(), as_of=AS_OF)
def test_rates_are_fractions_and_intervals_contain_them(rows, as_of):
    pairs, head = ours(rows, as_of)
    for r in pairs.iter_rows(named=True):
        assert 0 <= r["both_accounts"] <= r["base_accounts"]
        assert r["co_booked"] + r["cross_sold_after"] + r["before"] == r["both_accounts"]
        if r["attach_rate"] is not None:
            assert 0.0 <= r["ci_low"] <= r["attach_rate"] <= r["ci_high"] <= 1.0
            assert 0.0 <= r["cross_sell_attach"] <= r["attach_rate"]
        if r["target_rate"] is not None:
            assert 0.0 <= r["target_rate"] <= 1.0
    if head.multi_product_rate is not None:
        assert 0.0 <= head.multi_product_rate <= 1.0


@settings(max_examples=100, deadline=None)
@given(rows=lines(), as_of=AS_OF, seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(rows, as_of, seed):
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    first, head1 = ours(rows, as_of)
    second, head2 = ours(shuffled, as_of)
    assert head1 == head2
    assert first.equals(second)


@settings(max_examples=100, deadline=None)
@given(rows=lines(), as_of=AS_OF, which=st.integers(0, 1000))
def test_splitting_a_line_into_two_half_lines_changes_nothing(rows, as_of, which):
    if not rows:
        return
    i = which % len(rows)
    half = dict(rows[i], amount=rows[i]["amount"] / 2)
    split = [*rows[:i], half, dict(half), *rows[i + 1 :]]
    first, head1 = ours(rows, as_of)
    second, head2 = ours(split, as_of)
    assert head1 == head2
    assert first.equals(second)


def test_sample_data_matches_the_oracle_cell_by_cell():
    line_items, products, _accounts = attach_oracle.load_canonical_csv(SAMPLE)
    expected = attach_oracle.attach(line_items, products)
    from crossell_cli.config import resolve_settings
    from crossell_cli.ingest import load

    settings_ = resolve_settings(file_values={}, config_dir=None, cli={"data": SAMPLE})
    book = load(settings_)
    assert book.counts.collect()["rejected"].sum() == 0
    model = build_model(book, as_of=None, level="family")
    assert as_of(model) == expected["as_of"]
    pairs, head = attach(model)
    assert head.customers == expected["customers"]
    co_owned = [r for r in expected["pairs"] if r["both_accounts"] > 0]
    assert pairs.height == len(co_owned)
    for got, want in zip(pairs.iter_rows(named=True), co_owned, strict=True):
        assert (got["base_family"], got["target_family"]) == (want["base_family"], want["target_family"])
        for column in ("base_accounts", "both_accounts", "co_booked", "cross_sold_after", "before"):
            assert got[column] == want[column]
        for column in ("attach_rate", "ci_low", "ci_high", "lift", "cross_sell_attach"):
            assert got[column] == pytest.approx(want[column], abs=1e-12)
