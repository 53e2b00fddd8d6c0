"""The whitespace model: a conditional logit over six expert scores, fitted on the user's own book.

For an as-of date T and horizon h, every customer a at T and every ranked item B it does not own:

  pop(B)      log((1 + customers owning B) / (1 + customers))
  trend(B)    logit((x + 0.5) / (n + 1)): of the n customers at T − h not owning B then, x first
              bought B in (T − h, T]
  trend30(B)  the same over the last 30 days
  xs(a, B)    logit(1 − Π_{A owned by a} (1 − r_s(B | A))): the noisy-or of cross-sell pair rates.
              n_AB = customers owning A whose B was neither in their land bundle nor first bought
              on or before A's first purchase; x_AB = those who first bought B after A, outside the
              land bundle. The segment's counts when its n_AB ≥ min_base, else the book's, shrunk by
              10 pseudo-accounts towards B's cross-sell rate ρ_s(B) (x1 + 10 ρ(B)) / (n1 + 10) of the
              segment (n1 = customers whose B is not in their land bundle, x1 = who cross-sold B;
              book-wide ρ(B) = (X1 + 1) / (N1 + 2)). A family bought only inside land bundles has
              x ≈ 0: it is not a cross-sell, whatever its popularity.
  ease(a, B)  Σ_{A owned} W_AB / √(items a owns), W the EASE item–item weights of the ownership
              matrix X: P = (XᵀX + λI)⁻¹, W = −P / diag(P), diag W = 0, λ = 5 × mean owners per item
  prev(a, B)  1 when a bought B before but does not own it at T

utility(a, B) = Σ_f θ_f (x_f − μ_f) / σ_f. θ is fitted at run time: at past snapshots S = T − k h
(k = 1…4, each with h days of history before it) the features are recomputed from lines booked on
or before S, and each customer at S that first bought some candidate in (S, S + h] contributes the
log-softmax of its bought items among its candidates (at most 4 000 such customers per snapshot,
seed 0; books over 25 000 accounts fit on a fixed hash sample of 25 000). L2 = 10 on standardised
features, damped Newton. score(a, B) = softmax of the utilities over a's candidates: the
probability that B is the next thing a buys. With no usable snapshot (a book shorter than two
horizons) the score is the noisy-or itself, a probability too.

Everything is a pure function of the lines booked on or before T; numpy does the dense algebra,
scipy.sparse the products of the 0/1 ownership matrix with item × item tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from ..model import active_at
from ..runs import starts

Array = npt.NDArray[Any]

SHRINK = 10.0  # pseudo-accounts of shrinkage towards the parent rate
SHORT_WINDOW = 30  # days of the short trend window
EASE_FRAC = 5.0  # EASE λ = EASE_FRAC × mean owners per item
L2 = 10.0
MAX_SNAPSHOTS = 4
TRAIN_ACCOUNTS = 4000  # buyers per snapshot in the fit
FIT_ACCOUNTS = 25_000  # snapshots are computed on at most this many accounts
FEATURES = ("pop", "trend", "trend30", "xs", "ease", "prev")
VERSION = "choice-1"  # part of the cache key: a new formula never reads an old fit
_NONE = "\x00none"
LINE_COLUMNS = ("account_id", "item", "booked_at", "start_date", "end_date", "contract_id")


# ----------------------------------------------------------------------------- the book at a date


def item_index(items: Sequence[str], ranked: Sequence[str]) -> pl.DataFrame:
    """item, i (column index, items sorted), ranked (an item that may be offered)."""
    frame = pl.DataFrame({"item": sorted(set(items) | set(ranked))}, schema={"item": pl.String})
    return frame.with_row_index("i").with_columns(pl.col("item").is_in(list(ranked)).alias("ranked"))


def first_purchases(lines: pl.LazyFrame, when: dt.date, *extra: pl.Expr) -> pl.LazyFrame:
    """account_id, item, first (first booking day), in_land (a line in the land bundle: the
    account's first booking day, or a contract with a line booked that day); in no particular
    order (its readers sort what they index, or count). ``extra``: more aggregates of each
    (account, item)'s lines booked by ``when``. A plan: ``build_state`` collects it with the rest."""
    upto = lines.filter(pl.col("booked_at") <= when)
    land = upto.group_by("account_id").agg(pl.col("booked_at").min().alias("land"))
    upto = upto.join(land, on="account_id")
    land_contracts = (
        upto.filter((pl.col("booked_at") == pl.col("land")) & pl.col("contract_id").is_not_null())
        .select("account_id", "contract_id")
        .unique()
        .with_columns(pl.lit(True).alias("lc"))
    )
    upto = upto.join(land_contracts, on=["account_id", "contract_id"], how="left").with_columns(
        ((pl.col("booked_at") == pl.col("land")) | pl.col("lc").fill_null(False)).alias("in_land")
    )
    return upto.group_by("account_id", "item").agg(
        pl.col("booked_at").min().alias("first"), pl.col("in_land").any(), *extra
    )


@dataclass
class State:
    """The book at a date: customers (account_id, a, g), owned pairs (a, i), first purchases."""

    when: dt.date
    customers: pl.DataFrame  # account_id, a, g (segment level index)
    owned: pl.DataFrame  # a, i
    first: pl.DataFrame  # account_id, a (null: not a customer), i, first, in_land, __own (owned then)
    n_items: int
    levels: list[str]

    @property
    def n(self) -> int:
        return self.customers.height


def build_state(
    lines: pl.DataFrame,
    segments: pl.DataFrame | None,
    idx: pl.DataFrame,
    when: dt.date,
    levels: list[str],
    *,
    bought_only: bool = False,
) -> State:
    """The book at ``when``. ``bought_only``: ``first`` holds only which items each account
    bought by then (first and in_land left out), all that scoring reads (``account_rows``).

    One grouping of the lines by (account, item) says both what each account bought by then
    and whether it owns it then: an owned item is a bought one with an active line. (Grouped
    twice, the whole book at 300 k accounts took 2.45 CPU s, now 1.1.)"""
    owns = active_at(when).any().alias("__own")
    pairs = (
        lines.lazy().filter(pl.col("booked_at") <= when).group_by("account_id", "item").agg(owns)
        if bought_only
        else first_purchases(lines.lazy(), when, owns)
    ).cache()
    # One plan, collected once: one collect per step cost the 300 k-account book's state at T
    # 0.92-1.34 s, the plan 0.80-0.91 s (the steps' frames are read in parallel and never copied).
    customers = pairs.filter(pl.col("__own")).select("account_id").unique().sort("account_id").with_row_index("a")
    customers = _with_segment_index(customers, segments, levels).cache()
    pairs = (
        pairs.join(idx.lazy().select("item", "i"), on="item")
        .join(customers.select("account_id", "a"), on="account_id", how="left")
        .cache()
    )
    owned = pairs.filter(pl.col("__own")).select("a", "i").sort("a", "i")
    got = pl.collect_all([customers, owned, pairs])
    return State(when, got[0], got[1], got[2], idx.height, levels)


def _with_segment_index(customers: pl.LazyFrame, segments: pl.DataFrame | None, levels: list[str]) -> pl.LazyFrame:
    """``customers`` with g, the index of each one's segment in ``levels`` (0 without segments)."""
    if segments is None or len(levels) <= 1:
        return customers.with_columns(pl.lit(0, dtype=pl.Int64).alias("g"))
    table = pl.LazyFrame({"segment": levels}).with_row_index("g").with_columns(pl.col("g").cast(pl.Int64))
    return (
        customers.join(segments.lazy(), on="account_id", how="left", maintain_order="left")
        .with_columns(pl.col("segment").fill_null(_NONE))
        .join(table, on="segment", how="left", maintain_order="left")
        .with_columns(pl.col("g").fill_null(0))
        .drop("segment")
    )


def segment_levels(segments: pl.DataFrame | None) -> list[str]:
    if segments is None:
        return ["all"]
    return sorted({_NONE, *segments["segment"].drop_nulls().to_list()})


def _sparse(st: State) -> Any:
    import scipy.sparse as sp

    ones = np.ones(st.owned.height)
    return sp.csr_matrix((ones, (st.owned["a"].to_numpy(), st.owned["i"].to_numpy())), shape=(st.n, st.n_items))


def _logit(p: Array) -> Array:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


# ----------------------------------------------------------------------------- item-level tables


def popularity(st: State) -> Array:
    owners = np.bincount(st.owned["i"].to_numpy(), minlength=st.n_items).astype(float)
    return np.asarray(np.log((owners + 1.0) / (st.n + 1.0)))


def trends(lines: pl.DataFrame, st: State, idx: pl.DataFrame, windows: Sequence[int]) -> list[Array]:
    """Per window: logit of the smoothed new-buyer rate of each item over the last ``window``
    days before ``st.when``: of the customers at the window's start not owning it then, those
    whose first purchase of it (``st.first``) falls in the window. What each account owned at
    every window's start comes from one grouping of the lines (one per window before)."""
    starts = [st.when - dt.timedelta(days=window) for window in windows]
    owned_then = [
        ((pl.col("booked_at") <= start) & active_at(start)).any().alias(f"__o{k}") for k, start in enumerate(starts)
    ]
    pairs = (
        lines.lazy().filter(pl.col("booked_at") <= max(starts)).group_by("account_id", "item").agg(owned_then).cache()
    )
    # Every window's counts in one plan (a collect per step: 0.47-0.62 -> 0.24-0.31 s at T on the 300 k book).
    plans = []
    for k, start in enumerate(starts):
        before = pairs.filter(pl.col(f"__o{k}")).select("account_id", "item")
        customers = before.select("account_id").unique().cache()
        new = st.first.lazy().filter(pl.col("first") > start).join(customers, on="account_id", how="semi")
        plans += [customers.select(pl.len()), new.select("i"), before.join(idx.lazy(), on="item").select("i")]
    got = pl.collect_all(plans)
    out = []
    for k in range(len(starts)):
        size, bought, owners = got[3 * k : 3 * k + 3]
        x = np.bincount(bought["i"].to_numpy(), minlength=idx.height).astype(float)
        n = size.item() - np.bincount(owners["i"].to_numpy(), minlength=idx.height).astype(float)
        p = (x + 0.5) / (np.maximum(n, 0) + 1.0)
        out.append(np.asarray(np.log(p / (1 - p))))
    return out


@dataclass
class Pairs:
    """Cross-sell counts at a date, per segment level g: n1, x1 (G, B); n2, x2 (G, A, B)."""

    n1: Array
    x1: Array
    n2: Array
    x2: Array


def crosssell_counts(st: State, gram: Array | None = None, *, co_owned: bool = False) -> Pairs:
    """The counts behind the cross-sell rates, never a row per (A, B) pair (a large catalogue has
    tens of millions): sparse products over the rows (account, day it first bought something).
    With U the items owned at T first bought that day, V those bought that day outside the land
    bundle and L "a later day of the same account", x2 = Uᵀ L V counts the B bought strictly after
    A, outside the land bundle; with O and F the accounts' owned and ever-bought items, Oᵀ F
    (diagonal 0) counts every pair with B ≠ A, so n2 = owners(A) − (Oᵀ F − x2). ``gram``: XᵀX of
    the ownership matrix (``_sparse``) when the caller has it: Oᵀ F is XᵀX plus O against the
    items bought but no longer owned. Every number is a count, exact in float64.

    ``co_owned``: a book without dates (a wide export: every item "bought" the same day), where
    nothing is bought later; the evidence is then co-ownership, SPEC's attach rate: x2 = the
    customers owning both A and B, n2 = the owners of A; x1 = the owners of B, n1 = customers."""
    import scipy.sparse as sp

    n_items, levels = st.n_items, len(st.levels)
    first = (
        st.first.filter(pl.col("a").is_not_null())
        .select("a", "first", "i", "in_land", "__own")  # (the account's name would be sorted along)
        .sort("a", "first", "i")
        # k: the (account, day) row, numbered in that sorted order
        .with_columns(starts("a", "first").cast(pl.Int64).cum_sum().sub(1).alias("k"))
    )
    fa = first["a"].to_numpy().astype(np.int64)
    fi = first["i"].to_numpy().astype(np.int64)
    fl = first["in_land"].to_numpy()
    fg = st.customers["g"].to_numpy().astype(np.int64)[fa]  # (customers are numbered a = 0, 1, …)
    fk = first["k"].to_numpy()
    owned_key = first["__own"].to_numpy()  # (a, i) is in st.owned
    size = np.bincount(st.customers["g"].to_numpy(), minlength=levels).astype(float)
    key1 = fg * n_items + fi
    land_n = np.bincount(key1, weights=fl.astype(float), minlength=levels * n_items).reshape(levels, n_items)
    x1 = np.bincount(key1, weights=(~fl).astype(float), minlength=levels * n_items).reshape(levels, n_items)
    n1 = size[:, None] - land_n
    owners = np.bincount(fg[owned_key] * n_items + fi[owned_key], minlength=levels * n_items)
    owners = owners.reshape(levels, n_items).astype(float)
    if co_owned:
        return _co_owned_counts(st, fa[owned_key], fi[owned_key], owners, size, gram)
    days = int(fk.max()) + 1 if fk.size else 0
    day_account = np.zeros(days, dtype=np.int64)
    day_account[fk] = fa
    day_g = np.zeros(days, dtype=np.int64)
    day_g[fk] = fg
    # Rows are sorted by account then day: day k's later days are k + 1 … the account's last.
    bounds = np.flatnonzero(np.r_[True, day_account[1:] != day_account[:-1], True])
    after = np.repeat(bounds[1:], np.diff(bounds)) - np.arange(days) - 1
    # Each row's later days, as CSR arrays straight away (its columns are consecutive): building
    # the matrix from (row, column) pairs sorted them again, a fifth of this function.
    ends = np.cumsum(after)
    later_cols = (
        np.arange(ends[-1] if days else 0) - np.repeat(ends - after, after) + np.repeat(np.arange(days), after) + 1
    )
    later = sp.csr_matrix((np.ones(later_cols.size), later_cols, np.r_[0, ends]), shape=(days, days))
    mine, new, gone = np.flatnonzero(owned_key), np.flatnonzero(~fl), np.flatnonzero(~owned_key)
    u = _rows_sorted_csr(fk[mine], fi[mine], (days, n_items))
    subsequent = later @ _rows_sorted_csr(fk[new], fi[new], (days, n_items))
    held = sp.csr_matrix((np.ones(mine.size), (fa[mine], fi[mine])), shape=(st.n, n_items))
    churned = sp.csr_matrix((np.ones(gone.size), (fa[gone], fi[gone])), shape=(st.n, n_items))
    account_g = st.customers["g"].to_numpy()
    n2 = np.empty((levels, n_items, n_items))
    x2 = np.empty((levels, n_items, n_items))
    for g in range(levels):
        days_g = slice(None) if levels == 1 else np.flatnonzero(day_g == g)
        (u[days_g].T @ subsequent[days_g]).toarray(out=x2[g])
        accounts = _segment_accounts(account_g, g, levels)
        pairs = n2[g]
        _co_owners(held, accounts, gram if levels == 1 else None, out=pairs)
        if gone.size:
            pairs += (held[accounts].T @ churned[accounts]).toarray()
        np.fill_diagonal(pairs, 0.0)
        np.subtract(x2[g], pairs, out=pairs)
        pairs += owners[g][:, None]
    return Pairs(n1, x1, n2, x2)


def _rows_sorted_csr(rows: Array, cols: Array, shape: tuple[int, int]) -> Any:
    """The 0/1 matrix with ones at (rows, cols), for rows in ascending order and, within a row,
    ascending distinct columns: its CSR arrays are those cells as they are."""
    import scipy.sparse as sp

    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=shape[0]))]
    return sp.csr_matrix((np.ones(rows.size), cols, indptr), shape=shape)


def _co_owned_counts(st: State, fa: Array, fi: Array, owners: Array, size: Array, gram: Array | None) -> Pairs:
    """``crosssell_counts`` of a book without dates, from the owned (account, item) cells."""
    import scipy.sparse as sp

    n_items, levels = st.n_items, len(st.levels)
    held = sp.csr_matrix((np.ones(fa.size), (fa, fi)), shape=(st.n, n_items))
    account_g = st.customers["g"].to_numpy()
    x2 = np.empty((levels, n_items, n_items))
    for g in range(levels):
        _co_owners(held, _segment_accounts(account_g, g, levels), gram if levels == 1 else None, out=x2[g])
        np.fill_diagonal(x2[g], 0.0)
    n2 = np.repeat(owners[:, :, None], n_items, axis=2)
    n1 = np.repeat(size[:, None], n_items, axis=1)
    return Pairs(n1, owners.copy(), n2, x2)


def _segment_accounts(account_g: Array, g: int, levels: int) -> Any:
    """The rows of segment level g's accounts (every row when the book has one segment)."""
    return slice(None) if levels == 1 else np.flatnonzero(account_g == g)


def _co_owners(held: Any, accounts: Any, gram: Array | None, *, out: Array) -> None:
    """Oᵀ O over ``accounts``' rows of the owned matrix ``held``, into ``out``: the customers
    owning both A and B (diagonal: the owners of A). ``gram``: that product when the caller
    already has it (one segment: the whole book's XᵀX)."""
    if gram is not None:
        np.copyto(out, gram)
    else:
        (held[accounts].T @ held[accounts]).toarray(out=out)


def pair_rates(pairs: Pairs, min_base: int) -> tuple[Array, Array]:
    """log(1 − r_s(B | A)) per segment (G, A, B), and the logit segment rate ρ_s (G, B).
    Computed a segment at a time in place: on a large catalogue each (A, B) array is 100 MB."""
    big_n1, big_x1 = pairs.n1.sum(0), pairs.x1.sum(0)
    levels = pairs.n2.shape[0]
    # One segment: the book's counts are the segment's own, so every cell takes the same branch.
    big_n2, big_x2 = (pairs.n2[0], pairs.x2[0]) if levels == 1 else (pairs.n2.sum(0), pairs.x2.sum(0))
    book = (big_x1 + 1.0) / (big_n1 + 2.0)
    seg = np.where(pairs.n1 >= min_base, (pairs.x1 + SHRINK * book) / (np.maximum(pairs.n1, 0) + SHRINK), book)
    log_r = np.empty(pairs.n2.shape)
    base = np.empty(pairs.n2.shape[1:])
    for g in range(levels):
        rate = log_r[g]
        if levels == 1:
            np.add(pairs.x2[g], SHRINK * seg[g][None, :], out=rate)
            np.maximum(pairs.n2[g], 0, out=base)
        else:
            use = pairs.n2[g] >= min_base
            np.add(np.where(use, pairs.x2[g], big_x2), SHRINK * seg[g][None, :], out=rate)
            np.maximum(np.where(use, pairs.n2[g], big_n2), 0, out=base)
        base += SHRINK
        rate /= base
        np.clip(rate, 1e-6, 1 - 1e-6, out=rate)
        np.negative(rate, out=rate)
        np.log1p(rate, out=rate)
    return log_r, _logit(seg)


def ease_weights(x: Any, gram: Array | None = None) -> Array:
    """W = −P / diag(P), diag W = 0, P = (XᵀX + λI)⁻¹. An item nobody owns has a zero row and
    column in XᵀX, so P is block-diagonal and its W row and column are 0: only the owned items
    are inverted, by Cholesky (XᵀX + λI is symmetric positive definite). The work is done in
    place on one items × items array: a catalogue of 3.7 k items makes each copy 100 MB.
    ``gram``: XᵀX (``_gram``) when the caller has it; it is overwritten."""
    from scipy.linalg import lapack

    if gram is None:
        gram = _gram(x)
    diag = np.diag(gram).copy()
    lam = EASE_FRAC * max(float(np.mean(diag)), 1.0)
    live = np.flatnonzero(diag > 0)
    if not live.size:
        return np.zeros(gram.shape)
    whole = live.size == gram.shape[0]
    sub = gram if whole else gram[np.ix_(live, live)]
    sub[np.diag_indices_from(sub)] += lam
    # XᵀX is symmetric, so its transpose (Fortran-ordered, what LAPACK takes without a copy)
    # holds the same numbers.
    chol, info = lapack.dpotrf(sub.T, lower=1, clean=1, overwrite_a=1)
    p, info2 = lapack.dpotri(chol, lower=1, overwrite_c=1) if info == 0 else (None, 1)
    if info2 != 0 or p is None:
        again = np.asarray((x.T @ x).toarray())[np.ix_(live, live)]
        again[np.diag_indices_from(again)] += lam
        p = np.linalg.inv(again)
    else:
        # P is symmetric: the transpose of the Fortran-ordered result is a C-ordered P.
        p = _symmetric_from_lower(np.asarray(p)).T
    d = np.diag(p).copy()
    np.divide(p, -d[None, :], out=p)
    np.fill_diagonal(p, 0.0)
    if whole:
        return np.asarray(p)
    w = np.zeros(gram.shape)
    w[np.ix_(live, live)] = p
    return w


def _symmetric_from_lower(p: Array, block: int = 512) -> Array:
    """``p`` with its strict upper triangle overwritten by the lower one's mirror, in place; every
    entry plus 0.0 (what tril(p) + tril(p, −1)ᵀ gives, −0.0 turned into 0.0)."""
    n = p.shape[0]
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        corner = p[lo:hi, lo:hi]
        upper = np.triu_indices(hi - lo, 1)
        corner[upper] = corner.T[upper]
        if hi < n:
            p[lo:hi, hi:] = p[hi:, lo:hi].T
    p += 0.0
    return p


@dataclass
class Tables:
    """Everything item-level the features need at one date."""

    pop: Array
    trend: Array
    trend30: Array
    log_r: Array  # (G, A, B)
    ease: Array  # (A, B)


def _gram(x: Any) -> Array:
    """XᵀX of a 0/1 CSR matrix, dense: co-owner counts, exact."""
    return np.asarray((x.T @ x).toarray())


def tables_at(
    lines: pl.DataFrame, st: State, idx: pl.DataFrame, horizon: int, min_base: int, *, co_owned: bool = False
) -> tuple[Tables, Pairs]:
    upto = lines.filter(pl.col("booked_at") <= st.when)
    index = idx.select("item", "i")
    x = _sparse(st)
    # One XᵀX for both: the pair counts read it, then the EASE inverse overwrites it.
    gram = _gram(x)
    pairs = crosssell_counts(st, gram, co_owned=co_owned)
    log_r, _ = pair_rates(pairs, min_base)
    long_trend, short_trend = trends(upto, st, index, (horizon, SHORT_WINDOW))
    tables = Tables(
        pop=popularity(st),
        trend=long_trend,
        trend30=short_trend,
        log_r=log_r,
        ease=ease_weights(x, gram),
    )
    return tables, pairs


def features(tables: Tables, owned: Any, ever: Array, g: Array) -> dict[str, Array]:
    """Dense (accounts × items) features for the accounts whose 0/1 ownership rows are ``owned``
    (a scipy CSR matrix), ``ever`` their bought-before matrix, ``g`` their segment levels."""
    n, m = owned.shape
    xs = np.zeros((n, m))
    for level in np.unique(g):
        rows = np.flatnonzero(g == level)
        xs[rows] = owned[rows] @ tables.log_r[level]
    dense = np.asarray(owned.toarray())
    held = np.sqrt(np.maximum(dense.sum(1, keepdims=True), 1.0))
    return {
        "pop": np.broadcast_to(tables.pop, (n, m)),
        "trend": np.broadcast_to(tables.trend, (n, m)),
        "trend30": np.broadcast_to(tables.trend30, (n, m)),
        "xs": _logit(-np.expm1(xs)),
        "ease": np.asarray(owned @ tables.ease) / held,
        "prev": ever - dense,
    }


def account_rows(st: State, rows: Array | None = None) -> tuple[Any, Array, Array]:
    """(ownership CSR, ever-bought dense, segment level) of the customers ``rows`` (all: None)."""
    import scipy.sparse as sp

    x = _sparse(st)
    ever = np.zeros((st.n, st.n_items))
    got = st.first.filter(pl.col("a").is_not_null())
    ever[got["a"].to_numpy(), got["i"].to_numpy()] = 1.0
    g = st.customers["g"].to_numpy()
    if rows is None:
        return x, ever, g
    return sp.csr_matrix(x[rows]), ever[rows], g[rows]


# ----------------------------------------------------------------------------- the fit


def snapshots(lines: pl.DataFrame, when: dt.date, horizon: int) -> list[dt.date]:
    """S = T − k h (k = 1…4) with at least h days of history before S: every label window
    (S, S + h] ends on or before T."""
    start = lines["booked_at"].min()
    out: list[dt.date] = []
    if not isinstance(start, dt.date):
        return out
    for k in range(1, MAX_SNAPSHOTS + 1):
        snap = when - dt.timedelta(days=k * horizon)
        if (snap - start).days < horizon:
            break
        out.append(snap)
    return out


def account_sample(lines: pl.DataFrame, most: int = FIT_ACCOUNTS) -> pl.DataFrame:
    ids = lines.select("account_id").unique()
    if ids.height <= most:
        return lines
    keep = ids.with_columns(pl.col("account_id").hash(seed=42).alias("_h")).sort("_h", "account_id").head(most)
    return lines.join(keep.select("account_id"), on="account_id", how="semi")


@dataclass
class Block:
    """One snapshot's training cells, packed: only (account, candidate) cells are kept.
    f (d, cells) standardised features, y (cells) 1 where bought, row (cells) the account of each
    cell (sorted, starting at 0), starts: the first cell of each account."""

    f: Array
    y: Array
    row: Array
    starts: Array


@dataclass
class _Scratch:
    """The arrays every Newton pass writes into, made once per fit: a block's cells are tens of
    MB on a large catalogue, and fresh arrays each pass cost Online Retail's fit 600 k page
    faults (a fifth of its time). u and tmp: the largest block's cells; p: each block's choice
    probabilities at the last θ scored; work: d × cells of the largest block."""

    u: Array
    tmp: Array
    p: list[Array]
    work: Array

    @classmethod
    def of(cls, blocks: list[Block], work: Array | None = None) -> _Scratch:
        cells = max(b.y.size for b in blocks)
        if work is None or work.size < max(b.f.size for b in blocks):
            work = np.empty(max(b.f.size for b in blocks))
        return cls(np.empty(cells), np.empty(cells), [np.empty(b.y.size) for b in blocks], work)


def _choice_loss(theta: Array, blocks: list[Block], l2: float, fixed: list[tuple[Array, Array]], s: _Scratch) -> float:
    """The penalised negative log-likelihood at ``theta``; per block, the choice probabilities
    there go into ``s.p``, which the gradient and Hessian at the same ``theta`` read
    (``_choice_derivs``): a Newton step whose trial point is accepted needs no second pass."""
    loss = 0.5 * l2 * float(theta @ theta)
    for b, (k, _), p in zip(blocks, fixed, s.p, strict=True):
        u, tmp = s.u[: b.y.size], s.tmp[: b.y.size]
        np.matmul(theta, b.f, out=u)
        u -= np.take(np.maximum.reduceat(u, b.starts), b.row, out=tmp, mode="clip")
        np.exp(u, out=p)
        z = np.add.reduceat(p, b.starts)
        p /= np.take(z, b.row, out=tmp, mode="clip")
        loss += float((k * np.log(z)).sum() - np.multiply(u, b.y, out=tmp).sum())
    return loss


def _choice_derivs(
    theta: Array, blocks: list[Block], l2: float, fixed: list[tuple[Array, Array]], s: _Scratch
) -> tuple[Array, Array]:
    """Gradient and Hessian at ``theta`` from the probabilities ``_choice_loss`` left in ``s.p``
    there (overwritten).
    ``fixed``: per block (purchases per account, f @ y), which θ does not move."""
    d = theta.size
    grad = l2 * theta.copy()
    hess = l2 * np.eye(d)
    for b, p, (k, fy) in zip(blocks, s.p, fixed, strict=True):
        scratch = s.work[: b.f.size].reshape(b.f.shape)
        # E_p[f] per account, weighted by the account's purchases
        ef = np.add.reduceat(np.multiply(b.f, p, out=scratch), b.starts, axis=1)  # (d, accounts)
        grad += ef @ k - fy
        p *= np.take(k, b.row, out=s.tmp[: b.y.size], mode="clip")
        hess += np.multiply(b.f, p, out=scratch) @ b.f.T - (ef * k) @ ef.T
    return grad, hess


def _fixed(blocks: list[Block]) -> list[tuple[Array, Array]]:
    return [(np.add.reduceat(b.y, b.starts), b.f @ b.y) for b in blocks]


def fit_choice(blocks: list[Block], l2: float = L2, iters: int = 50, work: Array | None = None) -> Array:
    """Damped Newton on the conditional-logit log-likelihood with an L2 penalty l2/2 |θ|².
    ``work``: scratch of at least d × cells of the largest block (made here when not given)."""
    theta = np.zeros(blocks[0].f.shape[0])
    s = _Scratch.of(blocks, work)
    fixed = _fixed(blocks)
    loss = _choice_loss(theta, blocks, l2, fixed, s)
    for _ in range(iters):
        grad, hess = _choice_derivs(theta, blocks, l2, fixed, s)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            new = theta - t * step
            # (each trial point overwrites the probabilities: the accepted one's are read next)
            new_loss = _choice_loss(new, blocks, l2, fixed, s)
            if new_loss <= loss or t < 1e-4:
                break
            t *= 0.5
        theta = new
        if abs(loss - new_loss) < 1e-9 * max(abs(loss), 1.0):
            break
        loss = new_loss
    return np.asarray(theta)


@dataclass
class Fitted:
    """A fitted model at T: the weights, the item tables at T and the counts behind reasons."""

    as_of: dt.date
    horizon: int
    min_base: int
    items: list[str]
    ranked: Array  # bool per item
    levels: list[str]
    theta: Array | None  # None: the noisy-or fallback
    mu: Array
    sd: Array
    tables: Tables
    pairs: Pairs
    snapshots: list[dt.date] = field(default_factory=list)
    trained_accounts: int = 0
    # (base, item) forced-bundle pairs of the book at T, kept with the fit so a warm run need
    # not recount them over the whole book (set by the caller that knows the book's settings).
    forced: list[tuple[str, str]] | None = None
    # segment, family, typical: the typical values expected_value reads (whitespace.typical_values),
    # kept with the fit for the same reason (set by the caller too).
    typical: pl.DataFrame | None = None
    # The book's state at T the fit was made on, in this run only (never saved): scoring the
    # whole book at T reads the same customers, owned and bought items (``score_cells``).
    state: State | None = field(default=None, repr=False, compare=False)
    # A book without dates: the evidence is co-ownership (``crosssell_counts``), and no model is fitted.
    co_owned: bool = False

    @property
    def how(self) -> str:
        if self.theta is None:
            if self.co_owned:
                return "co-ownership noisy-or (a book without dates: no purchase order to learn from)"
            return "cross-sell noisy-or (no earlier snapshot with a full horizon to learn from)"
        days = ", ".join(s.isoformat() for s in self.snapshots)
        return f"choice model fitted on {self.trained_accounts} buyers at {days}"


def history(lines: pl.DataFrame) -> pl.DataFrame:
    """The won lines the model reads (LINE_COLUMNS), in any order: every step groups them, or
    sorts what it numbers, so their order changes no number (a property test shuffles them).
    (Sorting them first cost the 300 k-account book's fit 0.3 s.)"""
    return lines.select(LINE_COLUMNS)


def fit(
    lines: pl.DataFrame,
    segments: pl.DataFrame | None,
    *,
    items: Sequence[str],
    ranked: Sequence[str],
    as_of: dt.date,
    horizon: int,
    min_base: int,
    co_owned: bool = False,
) -> Fitted:
    """Fit the model on the won ``lines`` booked on or before ``as_of`` (LINE_COLUMNS);
    ``segments``: account_id, segment as known at T (None: no segment). ``co_owned``: a book
    without dates: co-ownership is the evidence and nothing is fitted (``crosssell_counts``)."""
    lines = history(lines.filter(pl.col("booked_at") <= as_of))
    idx = item_index(items, ranked)
    ranked_mask = idx["ranked"].to_numpy()
    levels = segment_levels(segments)
    sample = account_sample(lines)
    rng = np.random.default_rng(0)
    raw: list[Block] = []
    snaps = [] if co_owned else snapshots(lines, as_of, horizon)
    used: list[dt.date] = []
    for snap in snaps:
        st = build_state(sample, segments, idx, snap, levels)
        if st.n == 0:
            continue
        x, ever, g = account_rows(st)
        dense = np.asarray(x.toarray())
        mask = (dense == 0) & ranked_mask[None, :]
        labels = np.zeros((st.n, st.n_items))
        new = _label_pairs(sample, st, idx, horizon)
        labels[new[0], new[1]] = 1.0
        labels *= mask
        rows = np.flatnonzero(labels.sum(1) > 0)
        if len(rows) > TRAIN_ACCOUNTS:
            rows = np.sort(rng.choice(rows, TRAIN_ACCOUNTS, replace=False))
        if not len(rows):
            continue
        tables, _ = tables_at(sample, st, idx, horizon, min_base)
        raw.append(_training_block(tables, x, ever, g, labels, mask, rows))
        used.append(snap)
    st = build_state(lines, segments, idx, as_of, levels)
    tables, pairs = tables_at(lines, st, idx, horizon, min_base, co_owned=co_owned)
    d = len(FEATURES)
    if not raw:
        return Fitted(
            as_of,
            horizon,
            min_base,
            idx["item"].to_list(),
            ranked_mask,
            levels,
            None,
            np.zeros(d),
            np.ones(d),
            tables,
            pairs,
            state=st,
            co_owned=co_owned,
        )
    # Standardise. The training cells are hundreds of MB on a large catalogue, so np.std is done
    # by hand with its own steps (centre, square, sum, divide: the same numbers) and one scratch
    # array, which the Newton steps then reuse; a single snapshot is centred where it lies.
    every = raw[0].f if len(raw) == 1 else np.concatenate([b.f for b in raw], axis=1)
    mu = every.mean(axis=1)
    every -= mu[:, None]
    work = np.empty(every.size)
    sd = np.sqrt(np.add.reduce(np.square(every, out=work.reshape(every.shape)), axis=1) / every.shape[1])
    sd = np.where(sd > 1e-9, sd, 1.0)
    if len(raw) > 1:
        del every
        for b in raw:
            b.f -= mu[:, None]
    for b in raw:
        b.f /= sd[:, None]
    theta = fit_choice(raw, work=work)
    trained = sum(b.starts.size for b in raw)
    return Fitted(
        as_of,
        horizon,
        min_base,
        idx["item"].to_list(),
        ranked_mask,
        levels,
        theta,
        mu,
        sd,
        tables,
        pairs,
        used,
        trained,
        state=st,
    )


def _training_block(
    tables: Tables, x: Any, ever: Array, g: Array, labels: Array, mask: Array, rows: Array, chunk: int = 1000
) -> Block:
    """The candidate cells of the training accounts ``rows``, packed (features in row chunks, so
    no dense accounts × items × features array is ever held). Each feature is computed as
    ``features`` does, but only on the candidate cells, written straight into the packed array."""
    import scipy.sparse as sp

    keep_all = mask[rows]
    cells = int(np.count_nonzero(keep_all))
    f = np.empty((len(FEATURES), cells))
    y = np.empty(cells)
    cell_rows = np.empty(cells, dtype=np.int64)
    at = 0
    for lo in range(0, rows.size, chunk):
        part = rows[lo : lo + chunk]
        owned = sp.csr_matrix(x[part])
        keep = keep_all[lo : lo + chunk]
        r, c = np.nonzero(keep)
        got = slice(at, at + r.size)
        _cell_features(tables, owned, ever[part], g[part], keep, c, f[:, got])
        y[got] = labels[part][keep]
        cell_rows[got] = r + lo
        at += r.size
    starts = np.flatnonzero(np.r_[True, cell_rows[1:] != cell_rows[:-1]])
    return Block(f, y, np.repeat(np.arange(starts.size), np.diff(np.r_[starts, cells])), starts)


def _cell_features(tables: Tables, owned: Any, ever: Array, g: Array, keep: Array, items: Array, out: Array) -> None:
    """``features`` at the cells ``keep`` (items: their columns), into ``out`` (features × cells).
    A candidate cell is one the account does not own, so ``prev`` there is ``ever``."""
    n, m = owned.shape
    xs = np.zeros((n, m))
    for level in np.unique(g):
        rows = np.flatnonzero(g == level)
        xs[rows] = owned[rows] @ tables.log_r[level]
    held = np.sqrt(np.maximum(np.asarray(owned.sum(1)), 1.0))
    r = np.nonzero(keep)[0]
    for j, name in enumerate(FEATURES):
        if name in ("pop", "trend", "trend30"):
            np.take(getattr(tables, name), items, out=out[j], mode="clip")  # valid indices: no buffered copy
        elif name == "xs":
            out[j] = _logit(-np.expm1(xs[keep]))
        elif name == "ease":
            np.divide(np.asarray(owned @ tables.ease)[keep], held[r, 0], out=out[j])
        else:
            out[j] = ever[keep]


def _label_pairs(lines: pl.DataFrame, st: State, idx: pl.DataFrame, horizon: int) -> tuple[Array, Array]:
    """(a, i) of customers at the snapshot that first bought item i in (S, S + h]."""
    end = st.when + dt.timedelta(days=horizon)
    first = lines.group_by("account_id", "item").agg(pl.col("booked_at").min().alias("f"))
    new = (
        first.filter((pl.col("f") > st.when) & (pl.col("f") <= end))
        .join(st.customers.select("account_id", "a"), on="account_id")
        .join(idx.select("item", "i"), on="item")
    )
    return new["a"].to_numpy(), new["i"].to_numpy()


# ----------------------------------------------------------------------------- scoring


SCORED = {
    "account_id": pl.String,
    "family": pl.String,
    "score": pl.Float64,
    "base": pl.String,
    "base_bought": pl.Int64,
    "base_customers": pl.Int64,
    "base_segment": pl.String,
}


def evidence_rates(fitted: Fitted, forced: Array | None, bases: Array | None = None) -> Array:
    """(G, A, B): the observed cross-sell rate x/n the reason may cite: the segment's when its
    base has min_base customers, else the book's when that has, else −1 (no evidence).
    ``bases``: only these rows A (all: None), in that order."""
    pairs, base = fitted.pairs, fitted.min_base
    rows = np.arange(len(fitted.items)) if bases is None else np.asarray(bases, dtype=np.int64)
    n2, x2 = np.asarray(pairs.n2)[:, rows, :], np.asarray(pairs.x2)[:, rows, :]
    big_n, big_x = n2.sum(0), x2.sum(0)
    book = np.where(big_n >= base, big_x / np.maximum(big_n, 1.0), -1.0)
    out = np.where(n2 >= base, x2 / np.maximum(n2, 1.0), book[None])
    where = np.full(len(fitted.items), -1, dtype=np.int64)
    where[rows] = np.arange(rows.size)
    out[:, np.arange(rows.size), rows] = -1.0
    if forced is not None and len(forced):
        hit = where[forced[:, 0]] >= 0
        out[:, where[forced[hit, 0]], forced[hit, 1]] = -1.0
    return np.asarray(out)


@dataclass
class Cells:
    """Scored (customer, item) cells by position, before any name is attached.

    ``frame``: a (row of ``customers``), i (index of ``items``), score, rank (1 = the account's
    highest score; ties by item, which are sorted by name), key (the evidence behind the
    reason, see ``evidence_key``; −1 when evidence was not asked for), in (a, rank) order.
    ``customers``: account_id, a, g (segment level), sorted by account_id, so that ordering
    by a orders by account_id, and by i by item name."""

    frame: pl.DataFrame
    customers: pl.DataFrame
    items: pl.Series


def score_cells(
    fitted: Fitted,
    lines: pl.DataFrame,
    segments: pl.DataFrame | None,
    *,
    forced: Sequence[tuple[str, str]] = (),
    chunk: int = 2000,
    evidence: bool = True,
    keep: int | None = None,
    whole_book: bool = False,
) -> Cells:
    """Every customer in ``lines`` (the won lines of any subset of the book, up to T): one cell
    per ranked item it does not own, scored, ranked within the account and, with ``evidence``,
    keyed to the owned item with the highest observed cross-sell rate into it. ``keep``: only
    each account's first ``keep`` cells by rank (what a --top can print). ``whole_book``:
    ``lines`` are every won line of the book the fit was made on, so the fit's state at T (when
    made in this run) is the one scoring would build."""
    import scipy.sparse as sp

    # (no fixed row order needed: scores read only sets of owned and bought items)
    lines = lines.filter(pl.col("booked_at") <= fitted.as_of).select(LINE_COLUMNS)
    idx = pl.DataFrame({"item": fitted.items}, schema={"item": pl.String}).with_row_index("i")
    st = (
        fitted.state
        if whole_book and fitted.state is not None
        else build_state(lines, segments, idx, fitted.as_of, fitted.levels, bought_only=True)
    )
    empty = {"a": pl.UInt32, "i": pl.UInt32, "score": pl.Float64, "rank": pl.Int64, "key": pl.Int64}
    if st.n == 0:
        return Cells(pl.DataFrame(schema=empty), st.customers, idx["item"])
    position = {item: k for k, item in enumerate(fitted.items)}
    pairs_forced = np.array(
        [(position[a], position[b]) for a, b in forced if a in position and b in position], dtype=np.int64
    ).reshape(-1, 2)
    # Evidence rows only for the items some listed account owns (one account: a few rows).
    held = np.unique(st.owned["i"].to_numpy()).astype(np.int64)
    rates = evidence_rates(fitted, pairs_forced, held) if evidence else np.zeros((0, 0, 0))
    row_of = np.full(len(fitted.items), -1, dtype=np.int64)
    row_of[held] = np.arange(held.size)
    x_all, ever_all, g_all = account_rows(st)
    n_items = len(fitted.items)
    frames = []
    for lo in range(0, st.n, chunk):
        rows = np.arange(lo, min(lo + chunk, st.n))
        x = sp.csr_matrix(x_all[rows])
        g = g_all[rows]
        fs = features(fitted.tables, x, ever_all[rows], g)
        dense = np.asarray(x.toarray())
        mask = (dense == 0) & fitted.ranked[None, :]
        if fitted.theta is None:
            prob = np.where(mask, -np.expm1(_noisy_or(x, fitted, g)), 0.0)
        else:
            utility = sum(fitted.theta[j] * (fs[f] - fitted.mu[j]) / fitted.sd[j] for j, f in enumerate(FEATURES))
            utility = np.where(mask, utility, -np.inf)
            top = np.max(np.where(mask, utility, -np.inf), axis=1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            e = np.where(mask, np.exp(utility - top), 0.0)
            prob = e / np.maximum(e.sum(1, keepdims=True), 1e-300)
        # Each account's cells by score, ties by item (a stable sort of the item order); the
        # cells it owns or may not be offered sort last and are dropped.
        order = np.argsort(np.where(mask, -prob, np.inf), axis=1, kind="stable")
        if keep is not None and keep < n_items:
            order = order[:, :keep]
        a = np.repeat(np.arange(mask.shape[0]), order.shape[1])
        i = order.ravel()
        kept = mask[a, i]
        rank = np.tile(np.arange(1, order.shape[1] + 1, dtype=np.int64), mask.shape[0])[kept]
        a, i = a[kept], i[kept]
        if evidence:
            base = _best_base(x, g, rates, row_of, dense.shape)[a, i]
            key = evidence_key(fitted, g[a], base, i)
        else:
            key = np.full(a.size, -1, dtype=np.int64)
        frames.append(
            pl.DataFrame(
                {
                    "a": rows[a].astype(np.uint32),
                    "i": i.astype(np.uint32),
                    "score": prob[a, i],
                    "rank": rank,
                    "key": key,
                }
            )
        )
    return Cells(pl.concat(frames), st.customers, idx["item"])


def evidence_key(fitted: Fitted, g: Array, base: Array, i: Array) -> Array:
    """What a reason cites, as one integer per cell: the item i, the owned base (−1: none) and
    the segment level whose counts it quotes (0: the book's, g + 1: segment g's, used when
    that segment's base has min_base customers). ``evidence`` reads it back."""
    n = len(fitted.items)
    has = base >= 0
    safe = np.maximum(base, 0)
    use_seg = has & (np.asarray(fitted.pairs.n2)[g, safe, i] >= fitted.min_base)
    level = np.where(use_seg, g + 1, 0)
    return np.asarray((level * (n + 1) + (base + 1)) * n + i, dtype=np.int64)


def evidence(fitted: Fitted, key: Array) -> pl.DataFrame:
    """Per ``evidence_key``: i, base_i (−1: none), base_bought, base_customers (the counts the
    reason quotes: 0 without a base) and seg_g (the segment it names, −1: none)."""
    n = len(fitted.items)
    key = np.asarray(key, dtype=np.int64)
    i = key % n
    base = (key // n) % (n + 1) - 1
    level = key // (n * (n + 1))
    has = base >= 0
    safe = np.maximum(base, 0)
    use_seg = level > 0
    seg = np.maximum(level - 1, 0)
    n2, x2 = np.asarray(fitted.pairs.n2), np.asarray(fitted.pairs.x2)
    bought = np.where(use_seg, x2[seg, safe, i], x2[:, safe, i].sum(0))
    customers = np.where(use_seg, n2[seg, safe, i], n2[:, safe, i].sum(0))
    names = np.array(fitted.levels, dtype=object)
    named = use_seg & (names[seg] != _NONE) & (len(fitted.levels) > 1)
    return pl.DataFrame(
        {
            "i": i,
            "base_i": np.where(has, base, -1),
            "base_bought": np.where(has, bought, 0).astype(np.int64),
            "base_customers": np.where(has, customers, 0).astype(np.int64),
            "seg_g": np.where(named, seg, -1).astype(np.int64),
        }
    )


def named_evidence(fitted: Fitted, key: Array) -> pl.DataFrame:
    """``evidence`` with names: family, base, base_bought, base_customers, base_segment (the
    counts empty without a base)."""
    got = evidence(fitted, key)
    items = pl.Series(fitted.items, dtype=pl.String)
    base = got.select(pl.when(pl.col("base_i") >= 0).then(pl.col("base_i"))).to_series()
    segment = got.select(pl.when(pl.col("seg_g") >= 0).then(pl.col("seg_g"))).to_series()
    has = base.is_not_null()
    return pl.DataFrame(
        {
            "family": items.gather(got["i"]),
            "base": items.gather(base),
            "base_bought": got["base_bought"].zip_with(has, pl.Series([None], dtype=pl.Int64)),
            "base_customers": got["base_customers"].zip_with(has, pl.Series([None], dtype=pl.Int64)),
            "base_segment": pl.Series(fitted.levels, dtype=pl.String).gather(segment),
        },
        schema={k: v for k, v in SCORED.items() if k not in ("account_id", "score")},
    )


def score(
    fitted: Fitted,
    lines: pl.DataFrame,
    segments: pl.DataFrame | None,
    *,
    forced: Sequence[tuple[str, str]] = (),
    evidence: bool = True,
) -> pl.DataFrame:
    """SCORED rows (``score_cells`` with names) in (account_id, rank) order: the evidence
    columns empty when not ``evidence`` (the backtest needs the scores only)."""
    cells = score_cells(fitted, lines, segments, forced=forced, evidence=evidence)
    got = cells.frame
    if got.is_empty():
        return pl.DataFrame(schema=SCORED)
    if evidence:
        cited = named_evidence(fitted, got["key"].to_numpy()).drop("family")
    else:
        cited = pl.DataFrame({k: pl.repeat(None, got.height, dtype=SCORED[k], eager=True) for k in EVIDENCE_COLUMNS})
    return pl.DataFrame(
        {
            "account_id": cells.customers["account_id"].gather(got["a"]),
            "family": cells.items.gather(got["i"]),
            "score": got["score"],
            **{k: cited[k] for k in EVIDENCE_COLUMNS},
        },
        schema=SCORED,
    )


EVIDENCE_COLUMNS = ("base", "base_bought", "base_customers", "base_segment")


def _best_base(x: Any, g: Array, rates: Array, row_of: Array, shape: tuple[int, int]) -> Array:
    """(accounts × items): the owned item with the highest evidence rate into each item (the
    first such item on a tie), −1 when none has evidence."""
    best_rate = np.full(shape, -1.0)
    best_base = np.full(shape, -1, dtype=np.int64)
    owned_a, owned_i = x.nonzero()
    order = np.lexsort((owned_a, owned_i))
    owned_a, owned_i = owned_a[order], owned_i[order]
    bounds = np.flatnonzero(np.r_[True, owned_i[1:] != owned_i[:-1], True])
    for k in range(len(bounds) - 1):
        item = owned_i[bounds[k]]
        who = owned_a[bounds[k] : bounds[k + 1]]
        candidate = rates[g[who], row_of[item], :]
        better = candidate > best_rate[who]
        best_rate[who] = np.where(better, candidate, best_rate[who])
        best_base[who] = np.where(better, item, best_base[who])
    return best_base


def _noisy_or(x: Any, fitted: Fitted, g: Array) -> Array:
    """Σ_A log(1 − r(B | A)) over owned A, per account (the fallback's log non-purchase)."""
    out = np.zeros(x.shape)
    for level in np.unique(g):
        rows = np.flatnonzero(g == level)
        out[rows] = x[rows] @ fitted.tables.log_r[level]
    return out


# ----------------------------------------------------------------------------- the fit cache


def _arrays(fitted: Fitted) -> dict[str, Array]:
    t, p = fitted.tables, fitted.pairs
    out = {
        "ranked": fitted.ranked,
        "mu": fitted.mu,
        "sd": fitted.sd,
        "pop": t.pop,
        "trend": t.trend,
        "trend30": t.trend30,
        "log_r": t.log_r,
        "ease": t.ease,
        "n1": p.n1,
        "x1": p.x1,
        "n2": p.n2,
        "x2": p.x2,
    }
    if fitted.theta is not None:
        out["theta"] = fitted.theta
    return out


def save(fitted: Fitted, folder: Path) -> None:
    """One .npy per array (memory-mapped when read back) and meta.json, into ``folder`` (an
    empty one: cache.py writes it aside and renames it into place)."""
    for name, array in _arrays(fitted).items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
    meta = {
        "as_of": fitted.as_of.isoformat(),
        "horizon": fitted.horizon,
        "min_base": fitted.min_base,
        "items": fitted.items,
        "levels": fitted.levels,
        "snapshots": [s.isoformat() for s in fitted.snapshots],
        "trained_accounts": fitted.trained_accounts,
        "forced": fitted.forced,
        "co_owned": fitted.co_owned,
        "version": VERSION,
    }
    if fitted.typical is not None:
        fitted.typical.write_parquet(folder / "typical.parquet", statistics=False)
    (folder / "meta.json").write_text(json.dumps(meta))


def load(folder: Path) -> Fitted | None:
    """The fit saved in ``folder``, or None when there is none (or it is unreadable)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("version") != VERSION:
            return None
        arr = {f.stem: np.load(f, mmap_mode="r") for f in folder.glob("*.npy")}
        tables = Tables(arr["pop"], arr["trend"], arr["trend30"], arr["log_r"], arr["ease"])
        pairs = Pairs(arr["n1"], arr["x1"], arr["n2"], arr["x2"])
        typical = folder / "typical.parquet"
        return Fitted(
            dt.date.fromisoformat(meta["as_of"]),
            int(meta["horizon"]),
            int(meta["min_base"]),
            list(meta["items"]),
            np.asarray(arr["ranked"]),
            list(meta["levels"]),
            np.asarray(arr["theta"]) if "theta" in arr else None,
            np.asarray(arr["mu"]),
            np.asarray(arr["sd"]),
            tables,
            pairs,
            [dt.date.fromisoformat(s) for s in meta["snapshots"]],
            int(meta["trained_accounts"]),
            None if meta.get("forced") is None else [(str(a), str(b)) for a, b in meta["forced"]],
            pl.read_parquet(typical) if typical.exists() else None,
            co_owned=bool(meta.get("co_owned", False)),
        )
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None


def cache_key(parts: dict[str, Any]) -> str:
    text = json.dumps({"version": VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def attach_scores(
    lines: pl.DataFrame,
    segments: pl.DataFrame | None,
    *,
    items: Sequence[str],
    ranked: Sequence[str],
    as_of: dt.date,
    min_base: int,
    forced: Sequence[tuple[str, str]] = (),
    only: Sequence[str] | None = None,
) -> pl.DataFrame:
    """account_id, family, score: the attach baseline (the ranking before the model): the highest
    attach_rate(A → B) = co-owners / owners of A over the families A the customer owns, among its
    segment's customers when that base has min_base of them, else the book's; 0 without evidence.
    Dense item × item algebra, so a 3.7 k-item catalogue costs no billion-row join. ``only``: the
    accounts listed (all: None); the rates always come from the whole book."""
    lines = history(lines.filter(pl.col("booked_at") <= as_of))
    idx = item_index(items, ranked)
    levels = segment_levels(segments)
    st = build_state(lines, segments, idx, as_of, levels)
    if st.n == 0:
        return pl.DataFrame(schema={"account_id": pl.String, "family": pl.String, "score": pl.Float64})
    x = _sparse(st)
    g = st.customers["g"].to_numpy()
    every = np.asarray((x.T @ x).toarray())
    base_all = np.maximum(np.diag(every), 1.0)
    position = {item: k for k, item in enumerate(idx["item"].to_list())}
    ranked_mask = idx["ranked"].to_numpy()
    listed = np.ones(st.n, dtype=bool) if only is None else st.customers["account_id"].is_in(list(only)).to_numpy()
    frames = []
    for level in np.unique(g):
        everyone = np.flatnonzero(g == level)
        rows = everyone[listed[everyone]]
        if not rows.size:  # no listed account in this segment (the backtest lists its buyers only)
            continue
        xg_all = x[everyone]
        own = np.asarray((xg_all.T @ xg_all).toarray())
        xg = x[rows]
        base = np.diag(own)
        local = (base >= min_base) & (levels[level] not in (_NONE, "all"))
        rate = np.where(local[:, None], own / np.maximum(base, 1.0)[:, None], every / base_all[:, None])
        np.fill_diagonal(rate, 0.0)
        for a, b in forced:
            if a in position and b in position:
                rate[position[a], position[b]] = 0.0
        best = np.zeros((rows.size, st.n_items))
        who_all, item_all = xg.nonzero()
        order = np.lexsort((who_all, item_all))
        who_all, item_all = who_all[order], item_all[order]
        bounds = np.flatnonzero(np.r_[True, item_all[1:] != item_all[:-1], True])
        for k in range(len(bounds) - 1):
            item = item_all[bounds[k]]
            who = who_all[bounds[k] : bounds[k + 1]]
            best[who] = np.maximum(best[who], rate[item][None, :])
        mask = (np.asarray(xg.toarray()) == 0) & ranked_mask[None, :]
        r, i = np.nonzero(mask)
        frames.append(pl.DataFrame({"a": rows[r].astype(np.int64), "i": i.astype(np.int64), "score": best[r, i]}))
    if not frames:
        return pl.DataFrame(schema={"account_id": pl.String, "family": pl.String, "score": pl.Float64})
    got = pl.concat(frames).sort("a", "i")
    return (
        got.join(st.customers.select(pl.col("a").cast(pl.Int64), "account_id"), on="a", maintain_order="left")
        .join(idx.select(pl.col("i").cast(pl.Int64), pl.col("item").alias("family")), on="i", maintain_order="left")
        .select("account_id", "family", "score")
    )
