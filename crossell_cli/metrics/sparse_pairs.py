"""Pair counts as products of sparse 0/1 matrices: the fast way on a wide book.

Counting pairs by joining the ownership with itself costs a row per (account, item, item):
48 million on UCI Online Retail at product level. The same counts come out of sparse
products of groups × items incidence matrices, whose set-up costs a little per owned row and
whose products run in compiled code (scipy); ``pairs._count_pairs`` picks this way when the
accounts own many items each.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import scipy.sparse as sp


def sparse_pair_counts(
    coded: pl.DataFrame, *, schema: Mapping[str, pl.DataType | type[pl.DataType]], cells: int = 8_000_000
) -> pl.DataFrame:
    """The pair counts of ``coded`` (account_id, code, __is_base, first_date, first_contract;
    one row per account and item) in ``schema``'s columns: base, target, both_accounts,
    co_booked, cross_sold_after, before.

    Each matrix is groups × items, 1 where the group holds the item:
    - both = AᵀA, A: accounts;
    - co_booked = DᵀD + CᵀC − DCᵀDC, D: (account, first day), C: (account, first contract),
      DC: both (the same day or the same contract; a missing contract is never the same);
    - cross_sold_after = EᵀD − FᵀCD, where E[(account, day), i] says the account first bought
      i on an earlier day, F the same within one (account, contract), and CD: (account,
      contract, day) (a later first day on the same contract is co-booked, not after);
    - before = both − co_booked − cross_sold_after.
    The products run over blocks of base rows made dense (at most ``cells`` cells each), so a
    catalogue of any width fits in memory.
    """
    codes = coded["code"].to_numpy().astype(np.int64)
    bases = np.unique(codes[coded["__is_base"].to_numpy()])
    if not len(bases):
        return pl.DataFrame(schema=schema)
    n_items = int(codes.max()) + 1
    keys = coded.select(
        (pl.col("account_id").rank("dense").cast(pl.Int64) - 1).alias("account"),
        (pl.col("first_date").cast(pl.Int64) - pl.col("first_date").cast(pl.Int64).min()).fill_null(-1).alias("day"),
        (pl.col("first_contract").rank("dense").cast(pl.Int64) - 1).fill_null(-1).alias("contract"),
    )
    account, day, contract = (keys[c].to_numpy() for c in keys.columns)
    dated, contracted = day >= 0, contract >= 0
    days, contracts = int(day.max()) + 1, int(contract.max()) + 1
    # Group ids from one integer key per grouping (each below 10¹⁶ for up to 10⁸ owned rows).
    on_day, on_day_order, n_on_day = _group_ids(account * days + day, dated)
    on_contract, _, n_on_contract = _group_ids(account * contracts + contract, contracted)
    on_both, _, n_on_both = _group_ids(on_day * n_on_contract + on_contract, dated & contracted)
    contract_day, contract_day_order, n_contract_day = _group_ids(on_contract * days + day, dated & contracted)

    a = _incidence(account, codes, int(account.max()) + 1, n_items)
    d = _incidence(on_day, codes, n_on_day, n_items)
    c = _incidence(on_contract, codes, n_on_contract, n_items)
    dc = _incidence(on_both, codes, n_on_both, n_items)
    cd = _incidence(contract_day, codes, n_contract_day, n_items)
    e = _earlier(account, on_day, on_day_order, n_on_day, codes, n_items)
    f = _earlier(on_contract, contract_day, contract_day_order, n_contract_day, codes, n_items)
    at, dt, ct, dct, et, ft = (m.T.tocsr() for m in (a, d, c, dc, e, f))

    blocks = []
    step = max(1, cells // n_items)
    for start in range(0, len(bases), step):
        rows = bases[start : start + step]
        both = (at[rows] @ a).toarray()
        both[np.arange(len(rows)), rows] = 0  # an item with itself is no pair
        base, target = np.nonzero(both)
        n_both = both[base, target].astype(np.int64)
        same = _cells(dt[rows] @ d, base, target) + _cells(ct[rows] @ c, base, target)
        same -= _cells(dct[rows] @ dc, base, target)
        after = _cells(et[rows] @ d, base, target) - _cells(ft[rows] @ cd, base, target)
        blocks.append(
            pl.DataFrame(
                {
                    "base": rows[base],
                    "target": target,
                    "both_accounts": n_both,
                    "co_booked": same,
                    "cross_sold_after": after,
                    "before": n_both - same - after,
                },
                schema=schema,
            )
        )
    return pl.concat(blocks)


def sparse_deal_pairs(
    deal_items: pl.DataFrame,
    *,
    keys: tuple[str, ...],
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
    cells: int = 8_000_000,
) -> pl.DataFrame:
    """``pairs.deal_pairs`` for one kind of deal (``keys``, item, n, __target: one row per deal
    and item) in ``schema``'s columns (base, target, shared), as shared = OᵀN: O deals × items,
    1 where the deal holds the item; N the same with the item's lines on the deal. The products
    run over blocks of target columns made dense (at most ``cells`` cells each)."""
    if not deal_items["__target"].any():
        return pl.DataFrame(schema=schema)
    deals = deal_items.select(keys).unique().with_row_index("__deal")
    numbered = deal_items.join(deals, on=list(keys), nulls_equal=True)
    names = numbered["item"].unique().sort()
    codes = (numbered["item"].rank("dense").cast(pl.Int64) - 1).to_numpy()
    deal, lines = numbered["__deal"].to_numpy(), numbered["n"].to_numpy()
    on = _incidence(deal, codes, deals.height, names.len()).T.tocsr()
    with_lines = sp.csc_matrix((lines.astype(np.int64), (deal, codes)), shape=(deals.height, names.len()))
    targets = np.unique(codes[numbered["__target"].to_numpy()])
    blocks = []
    step = max(1, cells // names.len())
    for start in range(0, len(targets), step):
        columns = targets[start : start + step]
        shared = (on @ with_lines[:, columns]).toarray()
        shared[columns, np.arange(len(columns))] = 0  # an item with itself is no pair
        base, target = np.nonzero(shared)
        blocks.append(
            pl.DataFrame(
                {"base": names.gather(base), "target": names.gather(columns[target]), "shared": shared[base, target]},
                schema=schema,
            )
        )
    return pl.concat(blocks)


def _cells(product: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    return np.asarray(product.toarray()[rows, columns], dtype=np.int64)


def _group_ids(key: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense ids, in key order, of the distinct keys of the ``valid`` rows (-1 on the others);
    the valid rows in key order (ties in row order); and the number of ids."""
    rows = np.flatnonzero(valid)
    order = rows[pl.Series(key[rows]).arg_sort().to_numpy()]
    ids = np.full(len(key), -1, np.int64)
    if not len(order):
        return ids, order, 0
    sorted_keys = key[order]
    new = np.empty(len(order), bool)
    new[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    ids[order] = np.cumsum(new) - 1
    return ids, order, int(new.sum())


def _incidence(group: np.ndarray, codes: np.ndarray, groups: int, n_items: int) -> sp.csr_matrix:
    """groups × items, 1 where a row of the group holds the item (rows with group -1 left out)."""
    keep = group >= 0
    return sp.csr_matrix((np.ones(int(keep.sum()), np.int32), (group[keep], codes[keep])), shape=(groups, n_items))


def _earlier(
    outer: np.ndarray, group: np.ndarray, order: np.ndarray, groups: int, codes: np.ndarray, n_items: int
) -> sp.csr_matrix:
    """groups × items: for each group (an outer group and a day, ``order`` sorting its rows by
    both), the items its outer group bought on earlier days."""
    outer_sorted, group_sorted, codes_sorted = outer[order], group[order], codes[order]
    position = np.arange(len(order))
    new_outer = np.ones(len(order), bool)
    new_outer[1:] = outer_sorted[1:] != outer_sorted[:-1]
    outer_start = np.maximum.accumulate(np.where(new_outer, position, 0))
    new_group = np.ones(len(order), bool)
    new_group[1:] = group_sorted[1:] != group_sorted[:-1]
    first = position[new_group]  # each group's first row; groups in id order
    starts = outer_start[first]
    lengths = first - starts  # the outer group's rows before this group
    indptr = np.zeros(groups + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    picked = np.arange(int(indptr[-1]), dtype=np.int64) - np.repeat(indptr[:-1] - starts, lengths)
    return sp.csr_matrix((np.ones(len(picked), np.int32), codes_sorted[picked], indptr), shape=(groups, n_items))
