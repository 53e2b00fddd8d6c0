"""Independent, deliberately plain reference implementation ("oracle") of `xsell attach`.

Standard library only.  Written from /work/shared/SPEC.md sections 1-2 plus the decisions
handed down with the brief (repeated briefly in the function docstrings), without looking at
the real implementation.  Speed is not a goal: plain loops, dicts and sets.

Ambiguities noticed
-------------------
Places where SPEC reads differently from, or is not settled by, the decisions this oracle
implements.  The oracle follows the decisions; these are flagged so someone can rule on them.

1. Default as-of.  SPEC: "the latest booked_at/start_date in the data".  Decision: only closed
   (won or lost) lines count, so an open opportunity with a future expected close date does not
   push T out.  Also: with `where_accounts`, "restricted before anything is computed" makes the
   default T depend on the filter, whereas SPEC's motive ("a given export always gives the same
   answer") suggests T should come from the whole export.  `attach` computes the default T from
   the filtered lines (decision); flagging it.
2. "No stage column".  The loader returns stage=None both when the column is absent and when a
   cell is empty, so "file has no stage column" is detected as "no line has a stage".  A file
   whose stage column exists but is entirely empty is therefore treated as all-won; a file with
   some empty stage cells treats those lines as not won (SPEC leaves empty stage values open).
3. Sequence split, "same contract".  SPEC: B's first won line was booked "on the same contract
   or day as A's first".  When several lines of an item are booked on its first date with
   different contracts, "A's first line" is not unique.  Decision: compare only the smallest
   non-empty contract_id of each side; a reading "any shared contract among the first-date
   lines" would give co_booked more often.
4. Sequence split, "before (B owned first)" / "B first bought after A".  Decision compares the
   booked_at of the first won line (any line, active or not, even if its start_date is later).
   "Owned first" could instead be read on start_date (when ownership begins).
5. Level product.  SPEC words the headline numbers in families ("owning >= 2 families", "mean
   families per customer").  Decision: with --level product they count products (items).
6. Land bundle.  SPEC speaks of "the land contract" (singular); decision takes every non-empty
   contract of won lines booked on the land date.  A line booked after the land date on such a
   contract is in the land bundle ('new'), even for a family not bought on the land date.
7. Cross-sell definition.  SPEC §2 Definitions: "a won line for a family the account has never
   owned before, booked after the land bundle"; SPEC expansion/bookings mode: "booked on the date
   of the account's first-ever purchase of that family".  These differ for a second line of a
   new family booked on the same day as its first (both readings: the first is cross-sell; the
   decision makes every line on that first date a cross_sell) and for "owned" (start_date /
   active) vs "purchased" (booked_at).  Decision: booked_at-based, first-purchase-date rule.
8. "Nothing dated after T is used" vs a won line booked <= T whose start_date is > T: the line
   is used (for land / first dates / kinds) but does not make the account own the item at T.
9. Loader: SPEC says discount > 1 is a percentage (25 -> 0.25); the loader applies that.  It does
   NOT fill SPEC defaults (quantity 1, start_date = booked_at, list_amount = list_price x
   quantity): empty cells stay None and the metric code applies the start_date default itself.
   "1-based data row number" is taken as the index among non-blank data rows (csv.DictReader
   skips blank lines); with blank lines in the file the count could be read differently.
10. Duplicate product_id rows in products: the first row wins (SPEC silent).
11. No closed dated lines (e.g. `where_accounts` selects nobody) and no as_of: SPEC gives no
    default T.  The oracle raises ValueError; the product might instead print an empty table.
    With an explicit as_of an empty population gives customers 0, None headline numbers, and
    pairs only for items of the products table (all with attach_rate None).
"""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

Z95 = 1.959963984540054

_LINE_DATES = ("booked_at", "start_date", "end_date")
_LINE_FLOATS = ("amount", "list_amount", "discount", "quantity")


# ----------------------------------------------------------------------------- loading


def _read_csv(path: Path) -> tuple[list[dict], list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows = []
        for raw in reader:
            row = {}
            for key, value in raw.items():
                if key is None:  # extra cells beyond the header
                    continue
                value = (value or "").strip()
                row[key.strip()] = value if value != "" else None
            rows.append(row)
        return rows, [h.strip() for h in (reader.fieldnames or [])]


def _to_date(value):
    return None if value is None else date.fromisoformat(value[:10])


def _to_float(value):
    return None if value is None else float(value)


def _to_bool(value, default=True):
    if value is None:
        return default
    return value.strip().lower() in ("true", "yes", "1", "x", "y", "t")


def load_canonical_csv(folder: str | Path) -> tuple[list[dict], list[dict], list[dict]]:
    """Read line_items.csv, products.csv (optional), accounts.csv (optional) written in the
    canonical column names of SPEC §1 (clean files: ISO dates, plain numbers, empty = missing).
    Returns (line_items, products, accounts) as lists of dicts with typed values: dates as
    datetime.date, amount/list_amount/discount/quantity as float, empty strings as None, stage
    lower-cased ('won'/'lost'/'open') or None when the column is absent; line_id defaults to the
    1-based data row number as a string."""
    folder = Path(folder)
    rows, _header = _read_csv(folder / "line_items.csv")
    line_items = []
    for n, row in enumerate(rows, start=1):
        for col in _LINE_DATES:
            row[col] = _to_date(row.get(col))
        for col in _LINE_FLOATS:
            row[col] = _to_float(row.get(col))
        if row["discount"] is not None and row["discount"] > 1:
            row["discount"] = row["discount"] / 100.0
        row["stage"] = row["stage"].lower() if row.get("stage") is not None else None
        for col in ("contract_id", "rep"):
            row.setdefault(col, None)
        if row.get("line_id") is None:
            row["line_id"] = str(n)
        line_items.append(row)

    products = []
    if (folder / "products.csv").exists():
        rows, _ = _read_csv(folder / "products.csv")
        for row in rows:
            row.setdefault("family", None)
            row.setdefault("product_name", None)
            row["list_price"] = _to_float(row.get("list_price"))
            row["sellable"] = _to_bool(row.get("sellable"), default=True)
            products.append(row)

    accounts = []
    if (folder / "accounts.csv").exists():
        rows, _ = _read_csv(folder / "accounts.csv")
        for row in rows:
            if "created_at" in row:
                row["created_at"] = _to_date(row["created_at"])
            accounts.append(row)
    return line_items, products, accounts


# ----------------------------------------------------------------------------- helpers


def _has_stage(line_items) -> bool:
    return any(li.get("stage") is not None for li in line_items)


def _is_won(li, has_stage: bool) -> bool:
    return (not has_stage) or li.get("stage") == "won"


def _start(li) -> date:
    return li.get("start_date") or li["booked_at"]


def _is_active(li, T: date) -> bool:
    end = li.get("end_date")
    return _start(li) <= T and (end is None or end > T)


def _contract(li):
    c = li.get("contract_id")
    return c if c not in (None, "") else None


def _item_lookup(products, level: str):
    """Return a function product_id -> item at the chosen level."""
    if level not in ("family", "product"):
        raise ValueError(f"unknown level {level!r}")
    family_of = {}
    for p in products:
        pid = p["product_id"]
        if pid not in family_of:  # first row wins
            family_of[pid] = p.get("family") or pid
    if level == "product":
        return lambda pid: pid
    return lambda pid: family_of.get(pid) or pid


def default_as_of(line_items, *, has_stage: bool | None = None) -> date:
    """Latest booked_at / start_date over closed (won or lost) lines; all lines without stage."""
    if has_stage is None:
        has_stage = _has_stage(line_items)
    dates = []
    for li in line_items:
        if has_stage and li.get("stage") not in ("won", "lost"):
            continue
        for col in ("booked_at", "start_date"):
            if li.get(col) is not None:
                dates.append(li[col])
    if not dates:
        raise ValueError("no dated closed lines: cannot pick a default as-of date")
    return max(dates)


def _won_lines_upto(line_items, T, has_stage):
    return [li for li in line_items if _is_won(li, has_stage) and li["booked_at"] <= T]


# ----------------------------------------------------------------------------- classify


def classify_lines(line_items, products, *, as_of=None, level="family") -> list[dict]:
    """Every won line booked on or before T, with added keys: item, land_date,
    in_land_bundle (bool), kind ('new'|'cross_sell'|'upsell').

    land_date = account's earliest won booked_at; land contracts = non-empty contract_ids of won
    lines booked on the land date; land bundle = lines booked on the land date or on a land
    contract.  kind: 'new' in the land bundle; else 'upsell' if the item is in the account's
    land bundle; else 'cross_sell' if booked on the first-ever booked_at of (account, item);
    else 'upsell'."""
    has_stage = _has_stage(line_items)
    T = as_of if as_of is not None else default_as_of(line_items)
    item_of = _item_lookup(products, level)
    won = _won_lines_upto(line_items, T, has_stage)

    land_date = {}  # account -> date
    first_item_date = {}  # (account, item) -> date
    for li in won:
        a, x, d = li["account_id"], item_of(li["product_id"]), li["booked_at"]
        if a not in land_date or d < land_date[a]:
            land_date[a] = d
        if (a, x) not in first_item_date or d < first_item_date[(a, x)]:
            first_item_date[(a, x)] = d

    land_contracts = {}  # account -> set of contract ids
    for li in won:
        a = li["account_id"]
        land_contracts.setdefault(a, set())
        if li["booked_at"] == land_date[a] and _contract(li) is not None:
            land_contracts[a].add(_contract(li))

    def in_bundle(li):
        a = li["account_id"]
        return li["booked_at"] == land_date[a] or _contract(li) in land_contracts[a]

    land_items = {}  # account -> set of items in the land bundle
    for li in won:
        if in_bundle(li):
            land_items.setdefault(li["account_id"], set()).add(item_of(li["product_id"]))

    out = []
    for li in won:
        a, x = li["account_id"], item_of(li["product_id"])
        bundle = in_bundle(li)
        if bundle:
            kind = "new"
        elif x in land_items.get(a, set()):
            kind = "upsell"
        elif li["booked_at"] == first_item_date[(a, x)]:
            kind = "cross_sell"
        else:
            kind = "upsell"
        out.append(dict(li, item=x, land_date=land_date[a], in_land_bundle=bundle, kind=kind))
    return out


# ----------------------------------------------------------------------------- attach


def wilson(successes: int, n: int, z: float = Z95):
    """95% Wilson score interval (ci_low, ci_high), clipped to [0, 1]; (None, None) if n == 0."""
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def attach(line_items, products, *, as_of=None, level="family", where_accounts: set[str] | None = None) -> dict:
    """Returns {'as_of', 'customers', 'multi_product_rate', 'items_per_customer', 'pairs'}
    where pairs has one dict per ordered pair (A, B), A != B, of the item universe (items on
    won lines booked <= T plus every item of the products table), unfiltered by min_base,
    sorted by attach_rate desc (None last), base_accounts desc, base_family, target_family."""
    has_stage = _has_stage(line_items)  # a property of the file, not of the filter
    if where_accounts is not None:
        line_items = [li for li in line_items if li["account_id"] in where_accounts]
    T = as_of if as_of is not None else default_as_of(line_items, has_stage=has_stage)
    item_of = _item_lookup(products, level)
    won = _won_lines_upto(line_items, T, has_stage)

    # ownership at T
    owned = {}  # account -> set of items owned at T
    for li in won:
        if _is_active(li, T):
            owned.setdefault(li["account_id"], set()).add(item_of(li["product_id"]))
    customers = list(owned)
    n_customers = len(customers)
    owners = {}  # item -> set of accounts owning it at T
    for a, items in owned.items():
        for x in items:
            owners.setdefault(x, set()).add(a)

    # first won line per (account, item): (first_date, first_contract)
    first_date = {}
    for li in won:
        key = (li["account_id"], item_of(li["product_id"]))
        if key not in first_date or li["booked_at"] < first_date[key]:
            first_date[key] = li["booked_at"]
    first_contract = {}
    for li in won:
        key = (li["account_id"], item_of(li["product_id"]))
        c = _contract(li)
        if (
            li["booked_at"] == first_date[key]
            and c is not None
            and (key not in first_contract or c < first_contract[key])
        ):
            first_contract[key] = c

    universe = {item_of(li["product_id"]) for li in won}
    universe |= {item_of(p["product_id"]) for p in products}

    pairs = []
    for A in sorted(universe):
        base = owners.get(A, set())
        for B in sorted(universe):
            if A == B:
                continue
            target = owners.get(B, set())
            both = base & target
            co = after = before = 0
            for a in both:
                da, db = first_date[(a, A)], first_date[(a, B)]
                ca, cb = first_contract.get((a, A)), first_contract.get((a, B))
                if da == db or (ca is not None and ca == cb):
                    co += 1
                elif db > da:
                    after += 1
                else:
                    before += 1
            n = len(base)
            attach_rate = len(both) / n if n else None
            target_rate = len(target) / n_customers if n_customers else None
            if attach_rate is None or target_rate is None or target_rate == 0:
                lift = None
            else:
                lift = attach_rate / target_rate
            ci_low, ci_high = wilson(len(both), n)
            pairs.append(
                {
                    "base_family": A,
                    "target_family": B,
                    "base_accounts": n,
                    "both_accounts": len(both),
                    "attach_rate": attach_rate,
                    "ci_low": ci_low,
                    "ci_high": ci_high,
                    "target_accounts": len(target),
                    "target_rate": target_rate,
                    "lift": lift,
                    "co_booked": co,
                    "cross_sold_after": after,
                    "before": before,
                    "cross_sell_attach": after / n if n else None,
                }
            )

    pairs.sort(
        key=lambda r: (
            r["attach_rate"] is None,
            -(r["attach_rate"] or 0.0),
            -r["base_accounts"],
            r["base_family"],
            r["target_family"],
        )
    )

    if n_customers:
        multi = sum(1 for a in customers if len(owned[a]) >= 2) / n_customers
        per_customer = sum(len(owned[a]) for a in customers) / n_customers
    else:
        multi = per_customer = None
    return {
        "as_of": T,
        "customers": n_customers,
        "multi_product_rate": multi,
        "items_per_customer": per_customer,
        "pairs": pairs,
    }
