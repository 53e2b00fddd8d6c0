"""Independent, deliberately plain reference implementation ("oracle") of the `xsell` metrics
expansion, timing, retention, whitespace (+ forced bundles) and summary.

Standard library only.  Written from /work/shared/SPEC.md section 2 and the "Definitions and
decisions" section of README.md, without looking at the real implementation.  Loading, the
default as-of, the item lookup, the active test and the line classification (new / cross_sell /
upsell) are imported from `attach_oracle`, not re-implemented.  Speed is not a goal: dicts keyed
by account, plain loops.

All functions take the typed lists produced by `attach_oracle.load_canonical_csv` and return
lists of dicts whose keys are the output column names (or a set, for `forced_bundles`).
"No value" is None.  Days are ints; money and rates are floats.

Ambiguities noticed
-------------------
Places SPEC + README leave open, and what this oracle does.  Someone should rule on them; a
mismatch with the product on one of these is a question, not necessarily a bug.

Common
 1. Won lines are always "won (or no stage column) and booked <= T" (attach_oracle's rule).  In
    ARR mode and retention a won line booked <= T whose start_date is earlier than its booking
    (back-dated subscription) counts in every historical snapshot it is active on, i.e. history
    is restated with what is known at T.
 2. Accounts table: first row per account_id wins; an account missing from it has no segment,
    region or name (None).

expansion
 3. `mode=None` picks ARR mode when any won line booked <= T has an end_date, else bookings mode
    ("chosen by the data" does not say which lines are looked at).
 4. "Moves at least once" (which groups are listed with --by): a group is listed when it has at
    least one non-zero movement (bookings mode: a line with a non-zero amount) in any period.
    A group whose only lines have amount 0 is not listed.
 5. `--by family` at `--level product` groups by the product (the item of the level); the
    column is still named `family`.
 6. ARR mode, "active before" (cross-sell vs re-buy) and "customer before" (new vs reactivation)
    are read as ARR > 0 at an earlier snapshot (a line with amount 0 does not count).  ARR is
    cleaned to 0 when |ARR| <= 1e-6, per account x family and again for the account total.
 7. ARR mode with negative amounts: "account total 0 -> >0" is read as "total <= 0 -> > 0" and
    ">0 -> 0" as "> 0 -> <= 0"; when the total is <= 0 at both snapshots (only possible with
    negative amounts) a family's rise is `upsell` and a fall `contraction`, so the identity
    still holds.  A continuing account's family going from <= 0 to > 0 is cross_sell / re-buy.
 8. ARR mode `--by rep`: "the family's latest line started by the snapshot day" = the line of
    the account x family with the greatest start_date <= the closing snapshot day of the period
    whose movement is classified; ties broken by booked_at, then by later position in the file.
 9. `cross_sell_share` is None only when expansion == 0 exactly.

timing
10. `cross_family` X: accounts whose land bundle lacks X, event = first purchase of X.  Rows are
    listed only for X with at least one such event (same rule as README gives for `pair`).
    `pair` "A -> X" is labelled f"{A} → {X}" (U+2192 with spaces) and listed when at least one
    account of that pair bought X (accounts_cross_sold >= 1).
11. Accounts that churned without a cross-sell are still censored at T - land date (SPEC).
12. Premature / early churn are counted per cross-sold (account, family): every family bought
    outside the land bundle.  For `all`, `land_family`, `segment`, `cohort` a group holds every
    cross-sold family of its accounts; for `cross_family` X and `pair` A -> X only family X.
    Premature: first purchase of the family - land <= premature_days.  Early churn: every won
    line (booked <= T) of the account x family has an end_date <= T and
    end_date - first start of the family <= early_churn_days.  Rates are None on 0 pairs and
    when no won line (booked <= T) has an end date.  within_Nd is None when the group's longest
    follow-up (event or censoring days) is shorter than N (SPEC), unless every member had the
    event (S = 0: the share within any later N is 1).
13. `cohort` = land quarter labelled like expansion's quarters (fiscal naming when
    fiscal_year_start_month != 1).  `km_median_days` is an int (an event time); the
    percentile columns are floats.

retention
14. ARR on S and on T use won lines booked <= T (as in ARR mode), cleaned with 1e-6.  Cohort =
    ARR(S) > 0.  Families owned on S = families with an active line on S, any amount (README).
    An empty bucket: accounts 0, start_arr 0.0, end_arr 0.0, rates None.

whitespace
15. "Typical ARR of B": median `amount` of won lines (booked <= T, active or not) of family B
    belonging to *customers at T* of a's segment; else the same over customers at T of the
    whole book (`typical_population="customers"`, the literal reading of "among customers").
    `typical_population="all"` uses every account's won lines instead.  "Else list_price":
    median of the non-empty list_price of the catalogue products of B; None if none, and
    then expected_value is None.
16. A family with no evidence (every owned family is a forced-bundle base for it) scores 0.0
    with reason None.  A rate of 0 from real evidence is evidence ("owns A; 0% of ...").
17. The whole-book rate is used whenever the segment base < min_base, however small the
    whole-book base (it is >= 1: the account itself owns A).
18. Rank: expected_value descending (None last), ties by score descending, then family name.
19. Reason percentage: Python's round(score * 100), i.e. banker's rounding at exact .5
    (0.125 -> 12%, 0.135 -> 14%); an implementation using round-half-up differs there.
20. Universe of candidate families: families on won lines booked <= T plus every family of the
    products table, minus unsellable ones.

forced_bundles
21. Deal key: ("contract", contract_id) when present, else ("day", account_id, booked_at).  A
    contract-less line never shares a deal with a contract line of the same account and day.

summary
22. cross_sell_rate numerator: customers at T with a `cross_sell` line booked in (T - W, T].
    cross_sell_revenue_share: sum of amounts of cross_sell lines / all won lines booked in
    (T - W, T] (None when the denominator is 0).  cross_sell_win_rate: won = cross_sell lines
    booked in the window; lost = lost lines booked in the window whose account's land date is
    strictly before the lost line's booked_at and which have no won line of that family booked
    strictly before it.  status: below if value < good_low, above if > good_high, else
    within (bounds inclusive); None when value is None.  Instead of judging, status is "n/a at
    product level" at level product, and "n/a: not a subscription book" when no won line has an
    end date and the median gap between an account's consecutive purchase days of one item is
    under 90 days (README: the ranges are B2B SaaS subscription benchmarks for families); before
    both, "n/a: one family in the book" (or product) when the customers at T own one item between them.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise
from statistics import median as _median

from .attach_oracle import (
    _contract,
    _has_stage,
    _is_active,
    _item_lookup,
    _start,
    _won_lines_upto,
    classify_lines,
    default_as_of,
)

ZERO = 1e-6
MOVES = ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn")


# ----------------------------------------------------------------------------- small helpers


def _T(line_items, as_of):
    return as_of if as_of is not None else default_as_of(line_items)


def _won(line_items, T):
    return _won_lines_upto(line_items, T, _has_stage(line_items))


def _accounts_by_id(accounts):
    out = {}
    for row in accounts:
        out.setdefault(row["account_id"], row)  # first row wins
    return out


def _attr(acc_by_id, account_id, col):
    row = acc_by_id.get(account_id)
    return None if row is None else row.get(col)


def _clean(x):
    return 0.0 if abs(x) <= ZERO else x


def _owned_at(won, item_of, T):
    """account -> set of items with an active won line at T."""
    owned = {}
    for li in won:
        if _is_active(li, T):
            owned.setdefault(li["account_id"], set()).add(item_of(li["product_id"]))
    return owned


def percentile(values, q):
    """numpy's default (type 7): h = (n-1)q, linear between floor(h) and ceil(h)."""
    xs = sorted(values)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    return float(xs[lo] + (h - lo) * (xs[hi] - xs[lo]))


def kaplan_meier(observations):
    """observations: list of (time, event: bool).  Returns [(t, S(t))] at each event time,
    ascending, S as an exact Fraction (a float product misses exact halves: 11 of 22 left
    gives 0.5000000000000001).  At equal times events come before censorings, i.e. an
    account censored at t is still at risk at t."""
    deaths, leaving = {}, {}  # time -> events at that time / observations ending at that time
    for t, e in observations:
        leaving[t] = leaving.get(t, 0) + 1
        if e:
            deaths[t] = deaths.get(t, 0) + 1
    at_risk = len(observations)  # still under observation just before time t
    s = Fraction(1)
    curve = []
    for t in sorted(leaving):
        if t in deaths:
            s *= Fraction(at_risk - deaths[t], at_risk)
            curve.append((t, s))
        at_risk -= leaving[t]
    return curve


def km_survival_at(curve, n):
    s = Fraction(1)
    for t, st in curve:
        if t <= n:
            s = st
    return s


def km_median(curve):
    for t, st in curve:
        if st <= 0.5:
            return t
    return None


# ----------------------------------------------------------------------------- periods


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def period_of(d: date, period: str = "quarter", fiscal_year_start_month: int = 1):
    """(period_start, label).  Fiscal quarters/years are named after the calendar year the
    fiscal year ends in; months keep calendar labels."""
    fsm = fiscal_year_start_month
    if period == "month":
        return date(d.year, d.month, 1), f"{d.year:04d}-{d.month:02d}"
    fy_start_year = d.year if d.month >= fsm else d.year - 1
    fy_label = fy_start_year + (1 if fsm != 1 else 0)
    if period == "year":
        return date(fy_start_year, fsm, 1), f"{fy_label:04d}"
    if period == "quarter":
        q = ((d.month - fsm) % 12) // 3 + 1
        return _add_months(date(fy_start_year, fsm, 1), 3 * (q - 1)), f"{fy_label:04d}-Q{q}"
    raise ValueError(f"unknown period {period!r}")


def periods_between(first: date, T: date, period: str, fsm: int):
    """Every period from the one holding `first` to the one holding T:
    list of (label, period_start, closing_day), the last closing on T."""
    step = {"month": 1, "quarter": 3, "year": 12}[period]
    start, _ = period_of(first, period, fsm)
    out = []
    while start <= T:
        nxt = _add_months(start, step)
        out.append((period_of(start, period, fsm)[1], start, min(nxt - timedelta(days=1), T)))
        start = nxt
    return out


# ----------------------------------------------------------------------------- expansion


def _row(period_label, period_start, by, group, sums, arr_mode):
    row = {"period": period_label, "period_start": period_start}
    if by is not None:
        row[by] = group
    for k in MOVES:
        row[k] = sums.get(k, 0.0)
    if not arr_mode:
        row["reactivation"] = row["contraction"] = row["churn"] = None
    row["expansion"] = row["cross_sell"] + row["upsell"]
    row["cross_sell_share"] = row["cross_sell"] / row["expansion"] if row["expansion"] != 0 else None
    return row


def _bookings_movements(line_items, products, accounts, T, level, period, fsm, by):
    acc = _accounts_by_id(accounts)
    classified = classify_lines(line_items, products, as_of=T, level=level)
    if not classified:
        return [], []
    periods = periods_between(min(li["booked_at"] for li in classified), T, period, fsm)
    moves = []  # (period_start, group, kind, value)
    for li in classified:
        start, _ = period_of(li["booked_at"], period, fsm)
        if by is None:
            g = None
        elif by == "rep":
            g = li.get("rep")
        elif by == "family":
            g = li["item"]
        else:
            g = _attr(acc, li["account_id"], by)
        moves.append((start, g, li["kind"], li["amount"] or 0.0))
    return periods, moves


def _arr_engine(line_items, products, T, level, period, fsm):
    """The slow obvious way.  Returns (periods, snapshots, arr, per_account) where
    arr[(account, item)] = [ARR on each snapshot day] and per_account is a list of movement
    records {account_id, item, k (1-based period index), kind, value, rep}."""
    item_of = _item_lookup(products, level)
    won = _won(line_items, T)
    if not won:
        return [], [], {}, []
    periods = periods_between(min(_start(li) for li in won), T, period, fsm)
    snaps = [periods[0][1] - timedelta(days=1)] + [p[2] for p in periods]

    lines_af = {}
    for li in won:
        lines_af.setdefault((li["account_id"], item_of(li["product_id"])), []).append(li)
    position = {id(li): i for i, li in enumerate(line_items)}

    arr = {}
    for key, lines in lines_af.items():
        arr[key] = [_clean(sum((li["amount"] or 0.0) for li in lines if _is_active(li, s))) for s in snaps]

    fams_of = {}
    for a, f in lines_af:
        fams_of.setdefault(a, []).append(f)

    def rep_at(a, f, day):
        started = [li for li in lines_af[(a, f)] if _start(li) <= day]
        if not started:
            return None
        best = max(started, key=lambda li: (_start(li), li["booked_at"], position[id(li)]))
        return best.get("rep")

    records = []
    for a in sorted(fams_of):
        fams = sorted(fams_of[a])
        tot = [_clean(sum(arr[(a, f)][j] for f in fams)) for j in range(len(snaps))]
        for k in range(1, len(snaps)):
            p, c = tot[k - 1], tot[k]
            was_customer = any(tot[j] > 0 for j in range(k))
            for f in fams:
                pf, cf = arr[(a, f)][k - 1], arr[(a, f)][k]
                delta = cf - pf
                if delta == 0:
                    continue
                if p <= 0 < c:
                    kind = "reactivation" if was_customer else "new"
                elif c <= 0 < p:
                    kind = "churn"
                elif p > 0 and c > 0:
                    if pf <= 0 < cf:
                        had_f = any(arr[(a, f)][j] > 0 for j in range(k))
                        kind = "upsell" if had_f else "cross_sell"
                    elif delta > 0:
                        kind = "upsell"
                    else:
                        kind = "contraction"
                else:  # total <= 0 at both snapshots: negative amounts only
                    kind = "upsell" if delta > 0 else "contraction"
                records.append(
                    {"account_id": a, "item": f, "k": k, "kind": kind, "value": delta, "rep": rep_at(a, f, snaps[k])}
                )
    return periods, snaps, arr, records


def arr_movements_per_account(
    line_items, products, accounts=(), *, as_of=None, level="family", period="quarter", fiscal_year_start_month=1
):
    """One row per (account, period) where the account has non-zero ARR of some family at either
    snapshot: account_id, period, period_start, arr_start, arr_end and the six movements."""
    T = _T(line_items, as_of)
    periods, snaps, arr, records = _arr_engine(line_items, products, T, level, period, fiscal_year_start_month)
    sums = {}
    for r in records:
        sums.setdefault((r["account_id"], r["k"]), {}).setdefault(r["kind"], 0.0)
        sums[(r["account_id"], r["k"])][r["kind"]] += r["value"]
    fams_of = {}
    for a, f in arr:
        fams_of.setdefault(a, []).append(f)
    out = []
    for a in sorted(fams_of):
        fams = fams_of[a]
        for k in range(1, len(snaps)):
            if all(arr[(a, f)][k - 1] == 0 and arr[(a, f)][k] == 0 for f in fams):
                continue
            row = {
                "account_id": a,
                "period": periods[k - 1][0],
                "period_start": periods[k - 1][1],
                "arr_start": _clean(sum(arr[(a, f)][k - 1] for f in fams)),
                "arr_end": _clean(sum(arr[(a, f)][k] for f in fams)),
            }
            for m in MOVES:
                row[m] = sums.get((a, k), {}).get(m, 0.0)
            out.append(row)
    return out


def expansion(
    line_items,
    products,
    accounts=(),
    *,
    as_of=None,
    level="family",
    mode=None,
    period="quarter",
    fiscal_year_start_month=1,
    by=None,
):
    if by not in (None, "rep", "segment", "family", "region"):
        raise ValueError(f"unknown by {by!r}")
    T = _T(line_items, as_of)
    fsm = fiscal_year_start_month
    if mode is None:
        mode = "arr" if any(li.get("end_date") is not None for li in _won(line_items, T)) else "bookings"
    if mode == "bookings":
        periods, moves = _bookings_movements(line_items, products, accounts, T, level, period, fsm, by)
    elif mode == "arr":
        acc = _accounts_by_id(accounts)
        periods, _snaps, arr, records = _arr_engine(line_items, products, T, level, period, fsm)
        moves = []
        for r in records:
            if by is None:
                g = None
            elif by == "rep":
                g = r["rep"]
            elif by == "family":
                g = r["item"]
            else:
                g = _attr(acc, r["account_id"], by)
            moves.append((periods[r["k"] - 1][1], g, r["kind"], r["value"]))
    else:
        raise ValueError(f"unknown mode {mode!r}")

    sums = {}  # (period_start, group) -> {kind: value}
    for start, g, kind, value in moves:
        cell = sums.setdefault((start, g), {})
        cell[kind] = cell.get(kind, 0.0) + value
    if by is None:
        groups = [None]
    else:
        groups = sorted({g for _s, g, _k, v in moves if v != 0}, key=lambda g: (g is None, g or ""))
    # The bridge, from the ARR snapshots themselves: ARR on the previous closing day and on
    # this one, per group (None in bookings mode, and by rep, whose ARR changes hands).
    held = {}  # (snapshot index, group) -> ARR
    if mode == "arr" and by != "rep":
        acc = _accounts_by_id(accounts)
        for (a, f), values in arr.items():
            g = None if by is None else f if by == "family" else _attr(acc, a, by)
            for k, value in enumerate(values):
                held[(k, g)] = held.get((k, g), 0.0) + value
    rows = []
    for k, (label, start, _close) in enumerate(periods, start=1):
        for g in groups:
            row = _row(label, start, by, g, sums.get((start, g), {}), mode == "arr")
            bridged = mode == "arr" and by != "rep"
            row["opening_arr"] = held.get((k - 1, g), 0.0) if bridged else None
            row["closing_arr"] = held.get((k, g), 0.0) if bridged else None
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------- timing


def _timing_facts(line_items, products, T, level, early_churn_days):
    """Per-account facts from the bookings classification."""
    classified = classify_lines(line_items, products, as_of=T, level=level)
    land, land_items, first_buy, lines_af = {}, {}, {}, {}
    for li in classified:
        a, f = li["account_id"], li["item"]
        land[a] = li["land_date"]
        if li["kind"] == "new":
            land_items.setdefault(a, set()).add(f)
        if (a, f) not in first_buy or li["booked_at"] < first_buy[(a, f)]:
            first_buy[(a, f)] = li["booked_at"]
        lines_af.setdefault((a, f), []).append(li)
    cross_fams = {}  # account -> {family: days from land to its first purchase}
    for (a, f), d in first_buy.items():
        if f not in land_items.get(a, set()):
            cross_fams.setdefault(a, {})[f] = (d - land[a]).days
    early = {}
    for (a, f), lines in lines_af.items():
        first_start = min(_start(li) for li in lines)
        early[(a, f)] = all(
            li.get("end_date") is not None
            and li["end_date"] <= T
            and (li["end_date"] - first_start).days <= early_churn_days
            for li in lines
        )
    return land, land_items, cross_fams, early


def _timing_stats(members, pairs, premature_days, early, churn_known=True):
    """members: list of (event_days or None, censor_days); pairs: list of
    (account, family, days) cross-sold pairs counted for premature / early churn.
    within_Nd is None when the longest follow-up (event or censoring time) is under N days;
    the early-churn rates are None when the book has no end date (churn_known False)."""
    days = [e for e, _c in members if e is not None]
    obs = [(e, True) if e is not None else (c, False) for e, c in members]
    curve = kaplan_meier(obs)
    n = len(members)
    followup = max((t for t, _e in obs), default=-1)

    everyone = bool(curve) and curve[-1][1] == 0  # all had the event: 100% within any later N

    def within(horizon):
        return float(1 - km_survival_at(curve, horizon)) if n and (followup >= horizon or everyone) else None

    prem = [early[(a, f)] for a, f, d in pairs if d <= premature_days] if churn_known else []
    other = [early[(a, f)] for a, f, d in pairs if d > premature_days] if churn_known else []
    n_prem = sum(1 for _a, _f, d in pairs if d <= premature_days)
    return {
        "accounts_landed": n,
        "accounts_cross_sold": len(days),
        "median_days": percentile(days, 0.5),
        "p25_days": percentile(days, 0.25),
        "p75_days": percentile(days, 0.75),
        "p90_days": percentile(days, 0.9),
        "within_90d": within(90),
        "within_180d": within(180),
        "within_365d": within(365),
        "km_median_days": km_median(curve),
        "premature_cross_sells": n_prem,
        "premature_early_churn_rate": sum(prem) / len(prem) if prem else None,
        "other_early_churn_rate": sum(other) / len(other) if other else None,
    }


def timing(
    line_items,
    products,
    accounts=(),
    *,
    as_of=None,
    level="family",
    by=None,
    premature_days=90,
    early_churn_days=180,
    fiscal_year_start_month=1,
):
    T = _T(line_items, as_of)
    acc = _accounts_by_id(accounts)
    land, land_items, cross_fams, early = _timing_facts(line_items, products, T, level, early_churn_days)
    churn_known = any(li.get("end_date") is not None for li in _won(line_items, T))

    def first_event(a):
        xs = cross_fams.get(a, {})
        return min(xs.values()) if xs else None

    def all_pairs(a):
        return [(a, f, d) for f, d in cross_fams.get(a, {}).items()]

    groups = {}  # key -> (members, pairs)

    def add(key, a, event, pairs):
        members, ps = groups.setdefault(key, ([], []))
        members.append((event, (T - land[a]).days))
        ps.extend(pairs)

    accounts_landed = sorted(land)
    if by is None:
        for a in accounts_landed:
            add("all", a, first_event(a), all_pairs(a))
    elif by == "land_family":
        for a in accounts_landed:
            for f in land_items[a]:
                add(f, a, first_event(a), all_pairs(a))
    elif by in ("segment", "cohort"):
        for a in accounts_landed:
            if by == "segment":
                key = _attr(acc, a, "segment") or "(none)"
            else:
                key = period_of(land[a], "quarter", fiscal_year_start_month)[1]
            add(key, a, first_event(a), all_pairs(a))
    elif by in ("cross_family", "pair"):
        sold = {f for xs in cross_fams.values() for f in xs}
        for x in sold:
            for a in accounts_landed:
                if x in land_items[a]:
                    continue
                d = cross_fams.get(a, {}).get(x)
                pairs = [(a, x, d)] if d is not None else []
                if by == "cross_family":
                    add(x, a, d, pairs)
                else:
                    for base in land_items[a]:
                        add(f"{base} → {x}", a, d, pairs)
        if by == "pair":  # listed when X was cross-sold at least once in the pair
            groups = {k: v for k, v in groups.items() if any(e is not None for e, _c in v[0])}
    else:
        raise ValueError(f"unknown by {by!r}")

    rows = []
    for key in sorted(groups):
        members, pairs = groups[key]
        row = {"group" if by is None else by: key}
        row.update(_timing_stats(members, pairs, premature_days, early, churn_known))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- retention


def retention(line_items, products, accounts=(), *, as_of=None, level="family", window_days=365):
    T = _T(line_items, as_of)
    S = T - timedelta(days=window_days)
    item_of = _item_lookup(products, level)
    won = _won(line_items, T)
    arr_s, arr_t, fams_s = {}, {}, {}
    for li in won:
        a = li["account_id"]
        if _is_active(li, S):
            arr_s[a] = arr_s.get(a, 0.0) + (li["amount"] or 0.0)
            fams_s.setdefault(a, set()).add(item_of(li["product_id"]))
        if _is_active(li, T):
            arr_t[a] = arr_t.get(a, 0.0) + (li["amount"] or 0.0)
    cohort = [a for a in arr_s if _clean(arr_s[a]) > 0]

    def bucket(a):
        n = len(fams_s[a])
        return "3+" if n >= 3 else str(n)

    rows = []
    for name in ("1", "2", "3+", "all"):
        members = [a for a in cohort if name == "all" or bucket(a) == name]
        start = sum(_clean(arr_s[a]) for a in members)
        end = sum(_clean(arr_t.get(a, 0.0)) for a in members)
        kept = sum(1 for a in members if _clean(arr_t.get(a, 0.0)) > 0)
        floor = sum(min(_clean(arr_t.get(a, 0.0)), _clean(arr_s[a])) for a in members)
        rows.append(
            {
                "products_owned": name,
                "accounts": len(members),
                "start_arr": start,
                "end_arr": end,
                "logo_retention": kept / len(members) if members else None,
                "grr": floor / start if start else None,
                "nrr": end / start if start else None,
            }
        )
    return rows


# ----------------------------------------------------------------------------- forced bundles


def _deal(li):
    c = _contract(li)
    return ("contract", c) if c is not None else ("day", li["account_id"], li["booked_at"])


def forced_bundles(line_items, products, *, as_of=None, level="family", share=0.95, min_lines=10):
    """{(A, B)}: among B's won lines (booked <= T), the share sitting on a deal that also holds a
    line of A is >= share, and B has >= min_lines won lines."""
    T = _T(line_items, as_of)
    item_of = _item_lookup(products, level)
    won = _won(line_items, T)
    items_on_deal = {}
    for li in won:
        items_on_deal.setdefault(_deal(li), set()).add(item_of(li["product_id"]))
    lines_of = {}
    for li in won:
        lines_of.setdefault(item_of(li["product_id"]), []).append(li)
    out = set()
    for b, lines in lines_of.items():
        if len(lines) < min_lines:
            continue
        for a in lines_of:
            if a == b:
                continue
            with_a = sum(1 for li in lines if a in items_on_deal[_deal(li)])
            if with_a / len(lines) >= share:
                out.add((a, b))
    return out


# ----------------------------------------------------------------------------- whitespace


def whitespace(
    line_items,
    products,
    accounts=(),
    *,
    as_of=None,
    level="family",
    min_base=10,
    forced_pairs=frozenset(),
    typical_population="customers",
):
    T = _T(line_items, as_of)
    item_of = _item_lookup(products, level)
    acc = _accounts_by_id(accounts)
    won = _won(line_items, T)
    owned = _owned_at(won, item_of, T)
    seg = {a: _attr(acc, a, "segment") for a in owned}

    # universe and sellability
    sellable = {}
    for p in products:
        x = item_of(p["product_id"])
        sellable[x] = sellable.get(x, False) or bool(p.get("sellable", True))
    universe = {item_of(li["product_id"]) for li in won} | set(sellable)
    candidates = sorted(x for x in universe if sellable.get(x, True))

    # owner sets, whole book and per segment
    owners, seg_owners = {}, {}
    for a, items in owned.items():
        for x in items:
            owners.setdefault(x, set()).add(a)
            if seg[a] is not None:
                seg_owners.setdefault((seg[a], x), set()).add(a)

    # typical ARR
    pop = set(owned) if typical_population == "customers" else None
    amounts_all, amounts_seg = {}, {}
    for li in won:
        a = li["account_id"]
        if pop is not None and a not in pop:
            continue
        x = item_of(li["product_id"])
        amounts_all.setdefault(x, []).append(li["amount"])
        s = _attr(acc, a, "segment")
        if s is not None:
            amounts_seg.setdefault((s, x), []).append(li["amount"])
    list_prices = {}
    for p in products:
        if p.get("list_price") is not None:
            list_prices.setdefault(item_of(p["product_id"]), []).append(p["list_price"])

    def typical(s, b):
        if s is not None and amounts_seg.get((s, b)):
            return _median(amounts_seg[(s, b)])
        if amounts_all.get(b):
            return _median(amounts_all[b])
        if list_prices.get(b):
            return _median(list_prices[b])
        return None

    rows = []
    for a in sorted(owned):
        s = seg[a]
        account_rows = []
        for b in candidates:
            if b in owned[a]:
                continue
            best = None  # (rate, A, used_segment)
            for base in sorted(owned[a]):
                if (base, b) in forced_pairs:
                    continue
                sbase = seg_owners.get((s, base), set()) if s is not None else set()
                if len(sbase) >= min_base:
                    rate = len(sbase & seg_owners.get((s, b), set())) / len(sbase)
                    used_seg = True
                else:
                    wbase = owners[base]
                    rate = len(wbase & owners.get(b, set())) / len(wbase)
                    used_seg = False
                if best is None or rate > best[0]:  # ties keep the alphabetically first base
                    best = (rate, base, used_seg)
            if best is None:
                score, reason = 0.0, None
            else:
                score, base, used_seg = best
                where = f" in {s}" if used_seg else ""
                reason = f"owns {base}; {round(score * 100)}% of {base} customers{where} also own {b}"
            t = typical(s, b)
            account_rows.append(
                {
                    "account_id": a,
                    "account_name": _attr(acc, a, "account_name"),
                    "family": b,
                    "score": score,
                    "expected_value": score * t if t is not None else None,
                    "reason": reason,
                }
            )
        account_rows.sort(
            key=lambda r: (r["expected_value"] is None, -(r["expected_value"] or 0.0), -r["score"], r["family"])
        )
        for i, r in enumerate(account_rows, start=1):
            r["rank"] = i
        rows.extend(account_rows)
    return rows


# ----------------------------------------------------------------------------- summary


def _status(value, low, high):
    if value is None:
        return None
    if value < low:
        return "below"
    if value > high:
        return "above"
    return "within"


def summary(
    line_items,
    products,
    accounts=(),
    *,
    as_of=None,
    level="family",
    window_days=365,
    premature_days=90,
    early_churn_days=180,
):
    T = _T(line_items, as_of)
    W0 = T - timedelta(days=window_days)  # window is (W0, T]
    has_stage = _has_stage(line_items)
    item_of = _item_lookup(products, level)
    won = _won(line_items, T)
    owned = _owned_at(won, item_of, T)
    classified = classify_lines(line_items, products, as_of=T, level=level)
    in_window = [li for li in classified if W0 < li["booked_at"] <= T]
    xs_window = [li for li in in_window if li["kind"] == "cross_sell"]

    n_cust = len(owned)
    xs_accounts = {li["account_id"] for li in xs_window}
    cross_sell_rate = sum(1 for a in owned if a in xs_accounts) / n_cust if n_cust else None
    multi = sum(1 for a in owned if len(owned[a]) >= 2) / n_cust if n_cust else None
    total = sum(li["amount"] for li in in_window)
    share = sum(li["amount"] for li in xs_window) / total if total else None
    [overall] = timing(
        line_items,
        products,
        accounts,
        as_of=T,
        level=level,
        premature_days=premature_days,
        early_churn_days=early_churn_days,
    ) or [{"km_median_days": None}]
    km_med = overall["km_median_days"]

    win_rate = None
    if has_stage:
        land = {}
        first_dates = {}  # (account, item) -> sorted won booked dates
        for li in classified:
            land[li["account_id"]] = li["land_date"]
            first_dates.setdefault((li["account_id"], li["item"]), []).append(li["booked_at"])
        lost = 0
        for li in line_items:
            if li.get("stage") != "lost" or li.get("booked_at") is None:
                continue
            d = li["booked_at"]
            if not (W0 < d <= T):
                continue
            a, x = li["account_id"], item_of(li["product_id"])
            if a not in land or not land[a] < d:
                continue
            if any(b < d for b in first_dates.get((a, x), [])):
                continue
            lost += 1
        won_n = len(xs_window)
        win_rate = won_n / (won_n + lost) if won_n + lost else None

    # Where the B2B SaaS family-level ranges do not apply, status says so instead of judging:
    # at product level, and on a book with no end dates whose accounts re-buy a family within
    # 90 days at the median (consecutive distinct purchase days of one account x item).
    # First: customers at T who own one item between them can never buy a second.
    caveat = None
    if len(set().union(*owned.values())) == 1:
        caveat = f"n/a: one {'product' if level == 'product' else 'family'} in the book"
    elif level == "product":
        caveat = "n/a at product level"
    elif not any(li.get("end_date") is not None for li in won):
        gaps = []
        days_of = {}
        for li in won:
            days_of.setdefault((li["account_id"], item_of(li["product_id"])), set()).add(li["booked_at"])
        for days in days_of.values():
            ordered = sorted(days)
            gaps += [(b - a).days for a, b in pairwise(ordered)]
        if gaps and _median(gaps) < 90:
            caveat = "n/a: not a subscription book"

    spec = [
        ("cross_sell_rate", cross_sell_rate, 0.15, 0.30),
        ("multi_product_rate", multi, 0.40, 0.60),
        ("cross_sell_revenue_share", share, 0.20, 0.40),
        ("median_days_to_cross_sell", km_med, 180, 365),
        ("cross_sell_win_rate", win_rate, 0.30, 0.50),
    ]
    return [
        {
            "kpi": k,
            "value": v,
            "good_low": lo,
            "good_high": hi,
            "status": caveat if caveat is not None and v is not None else _status(v, lo, hi),
        }
        for k, v, lo, hi in spec
    ]
