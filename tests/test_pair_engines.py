"""The two ways of counting co-owned pairs give the same counts: the self-join of the
ownership (metrics/pairs.py) and the sparse matrix products (metrics/sparse_pairs.py), on a
book worked out by hand and on random ones; and the choice between them."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossell_cli.metrics import pairs
from crossell_cli.metrics.sparse_pairs import sparse_deal_pairs, sparse_pair_counts

D = dt.date(2024, 1, 1)


def day(n: int | None) -> dt.date | None:
    return None if n is None else D + dt.timedelta(days=n)


def coded(rows: list[tuple[str, int, int | None, str | None]], bases: set[int] | None = None) -> pl.DataFrame:
    """(account, item code, first day, first contract) rows as ``_count_pairs`` takes them."""
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "code": [r[1] for r in rows],
            "__is_base": [bases is None or r[1] in bases for r in rows],
            "first_date": [day(r[2]) for r in rows],
            "first_contract": [r[3] for r in rows],
        },
        schema={
            "account_id": pl.String,
            "code": pl.UInt32,
            "__is_base": pl.Boolean,
            "first_date": pl.Date,
            "first_contract": pl.String,
        },
    )


def joined(frame: pl.DataFrame) -> dict[tuple[int, int], tuple[int, ...]]:
    return as_dict(pairs.joined_pair_counts(frame.lazy()).collect())


def sparse(frame: pl.DataFrame, cells: int = 8_000_000) -> dict[tuple[int, int], tuple[int, ...]]:
    got = sparse_pair_counts(frame, schema=pairs._COUNTED, cells=cells)
    assert got.schema == pl.Schema(pairs._COUNTED)
    return as_dict(got)


def as_dict(frame: pl.DataFrame) -> dict[tuple[int, int], tuple[int, ...]]:
    out = {(r[0], r[1]): tuple(r[2:]) for r in frame.iter_rows()}
    assert len(out) == frame.height  # one row per ordered pair
    return out


# a1 buys 0 and 1 on day 1 (contracts c1, c2), 2 on day 5 on contract c1 (a later day on
# the same contract: co-booked), 3 on day 9 without a contract. a2 buys 1 on day 2, 0 on day
# 3, 3 on day 3 (contract d1). a3 buys 1 (no contract) and 2 (contract e1) on day 4.
HAND = [
    ("a1", 0, 1, "c1"),
    ("a1", 1, 1, "c2"),
    ("a1", 2, 5, "c1"),
    ("a1", 3, 9, None),
    ("a2", 0, 3, None),
    ("a2", 1, 2, None),
    ("a2", 3, 3, "d1"),
    ("a3", 1, 4, None),
    ("a3", 2, 4, "e1"),
]
# (base, target): both_accounts, co_booked, cross_sold_after, before
HAND_COUNTS = {
    (0, 1): (2, 1, 0, 1),
    (1, 0): (2, 1, 1, 0),
    (0, 2): (1, 1, 0, 0),
    (2, 0): (1, 1, 0, 0),
    (0, 3): (2, 1, 1, 0),
    (3, 0): (2, 1, 0, 1),
    (1, 2): (2, 1, 1, 0),
    (2, 1): (2, 1, 0, 1),
    (1, 3): (2, 0, 2, 0),
    (3, 1): (2, 0, 0, 2),
    (2, 3): (1, 0, 1, 0),
    (3, 2): (1, 0, 0, 1),
}


@pytest.mark.parametrize("count", [joined, sparse, lambda f: sparse(f, cells=1)], ids=["join", "sparse", "blocks"])
def test_hand_worked_counts(count):
    assert count(coded(HAND)) == HAND_COUNTS


@pytest.mark.parametrize("count", [joined, sparse], ids=["join", "sparse"])
def test_only_the_bases_are_counted(count):
    want = {k: v for k, v in HAND_COUNTS.items() if k[0] in {0, 3}}
    assert count(coded(HAND, bases={0, 3})) == want
    assert count(coded(HAND, bases=set())) == {}


def test_no_rows():
    assert sparse(coded([])) == {} == joined(coded([]))


def rows(days: st.SearchStrategy[int | None]) -> st.SearchStrategy[list[tuple[str, int, int | None, str | None]]]:
    return st.lists(
        st.tuples(
            st.sampled_from(["a0", "a1", "a2", "a3", "a4", "a5"]),
            st.integers(0, 7),
            days,
            st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"])),
        ),
        max_size=40,
        unique_by=lambda r: (r[0], r[1]),  # one row per account and item, as ``owned`` holds
    )


BASES = st.one_of(st.none(), st.sets(st.integers(0, 7)))


@settings(max_examples=300, deadline=None)
@given(rows=rows(st.integers(0, 6)), bases=BASES, cells=st.integers(1, 64))
def test_the_two_ways_agree(rows, bases, cells):
    frame = coded(rows, bases)
    assert sparse(frame, cells=cells) == joined(frame)


@settings(max_examples=100, deadline=None)
@given(rows=rows(st.none()), bases=BASES)
def test_the_two_ways_agree_on_a_dateless_book(rows, bases):
    """A wide export without dates (``Model.dateless``): attach shows only both_accounts, and
    blanks the split, which means nothing without dates."""
    frame = coded(rows, bases)
    assert {k: v[0] for k, v in sparse(frame).items()} == {k: v[0] for k, v in joined(frame).items()}


def test_the_wide_way_is_chosen_for_many_items_per_account_of_a_wide_catalogue():
    """The choice changes only the time: 40 accounts each owning the same 40 of 1 200 items
    take the sparse way; with the thresholds out of reach the join is taken; same counts."""
    rows = [(f"a{a}", i * 30, a % 5, f"k{a}-{i % 3}") for a in range(40) for i in range(40)]
    rows.append(("a0", 1199, 0, None))  # the catalogue is 1 200 items wide
    frame = coded(rows)
    assert pairs._items_per_owner(frame) == pytest.approx((39 * 40 * 40 + 41 * 41) / (40 * 40 + 1))
    with mock.patch.object(pairs, "joined_pair_counts", side_effect=AssertionError("join")):
        wide = pairs._count_pairs(frame)
    with mock.patch.object(pairs, "SPARSE_ITEMS", 10**9):
        narrow = pairs._count_pairs(frame)
    assert as_dict(wide) == as_dict(narrow)
    assert len(as_dict(wide)) == 41 * 40


def test_a_narrow_catalogue_takes_the_join():
    frame = coded(HAND)
    with mock.patch("crossell_cli.metrics.sparse_pairs.sparse_pair_counts", side_effect=AssertionError("sparse")):
        assert as_dict(pairs._count_pairs(frame)) == HAND_COUNTS


# Deals: the lines of each item on a deal (n), and the targets whose lines are counted.
DEALS = [("k1", "X", 2), ("k1", "Y", 1), ("k2", "X", 1), ("k2", "Z", 3), ("k3", "X", 1), ("k3", "Y", 1), ("k3", "Z", 1)]
# (base, target): the target's lines on deals that also hold the base
DEAL_COUNTS = {("Y", "X"): 3, ("Z", "X"): 2, ("X", "Y"): 2, ("Z", "Y"): 1, ("X", "Z"): 4, ("Y", "Z"): 1}


def deal_items(rows: list[tuple[str, str, int]], targets: set[str] | None, keys: tuple[str, ...]) -> pl.DataFrame:
    """(deal, item, n) rows as ``_count_deal_pairs`` takes them; a two-column key splits the
    deal name into an account (its letter) and a day (its number)."""
    frame = pl.DataFrame(
        {
            "deal": [r[0] for r in rows],
            "item": [r[1] for r in rows],
            "n": [r[2] for r in rows],
            "__target": [targets is None or r[1] in targets for r in rows],
        },
        schema={"deal": pl.String, "item": pl.String, "n": pl.UInt32, "__target": pl.Boolean},
    )
    if keys == ("contract_id",):
        return frame.rename({"deal": "contract_id"}).select(*keys, "item", "n", "__target")
    return frame.select(
        pl.col("deal").str.slice(0, 1).alias("account_id"),
        (pl.lit(D) + pl.duration(days=pl.col("deal").str.slice(1).cast(pl.Int64))).alias("booked_at"),
        "item",
        "n",
        "__target",
    )


def deals_joined(frame: pl.DataFrame, keys: tuple[str, ...]) -> dict[tuple[str, str], int]:
    return {(b, t): n for b, t, n in pairs.joined_deal_pairs(frame.lazy(), keys).collect().iter_rows()}


def deals_sparse(frame: pl.DataFrame, keys: tuple[str, ...], cells: int = 8_000_000) -> dict[tuple[str, str], int]:
    got = sparse_deal_pairs(frame, keys=keys, schema=pairs._SHARED, cells=cells)
    assert got.schema == pl.Schema(pairs._SHARED)
    out = {(b, t): n for b, t, n in got.iter_rows()}
    assert len(out) == got.height
    return out


KEYS = [("contract_id",), ("account_id", "booked_at")]


@pytest.mark.parametrize("keys", KEYS, ids=["contract", "account-day"])
@pytest.mark.parametrize(
    "count",
    [deals_joined, deals_sparse, lambda f, k: deals_sparse(f, k, cells=1)],
    ids=["join", "sparse", "blocks"],
)
def test_hand_worked_deal_counts(count, keys):
    assert count(deal_items(DEALS, None, keys), keys) == DEAL_COUNTS
    assert count(deal_items(DEALS, {"X"}, keys), keys) == {("Y", "X"): 3, ("Z", "X"): 2}
    assert count(deal_items(DEALS, set(), keys), keys) == {}


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a1", "a2", "b1", "b2"]), st.sampled_from("ABCDEF"), st.integers(1, 4)),
        max_size=24,
        unique_by=lambda r: (r[0], r[1]),  # one row per deal and item
    ),
    targets=st.one_of(st.none(), st.sets(st.sampled_from("ABCDEF"))),
    keys=st.sampled_from(KEYS),
    cells=st.integers(1, 30),
)
def test_the_two_ways_agree_on_deals(rows, targets, keys, cells):
    frame = deal_items(rows, targets, keys)
    assert deals_sparse(frame, keys, cells=cells) == deals_joined(frame, keys)
