"""The synthetic book behind ``xsell sample`` and ``sample_data/``.

A B2B SaaS vendor sells ten product families to SMB, Mid-Market and Enterprise
accounts from 2022 to 2025. Each account lands with Core (tiered) on a contract that
always carries the Success Plan (the planted forced bundle), then buys other
families at least 91 days later with probabilities that depend on its segment and on
what it owns (so whitespace has a real signal). Accounts add seats, switch tiers,
drop families, churn and sometimes come back; deals are discounted; some are lost.

On top of that organic book, gaming patterns are planted and listed in planted.csv:
pass-through cross-sells (≥ 95% off, folded into a Core seat-expansion contract, booked
by two reps), premature cross-sells (booked 10–85 days after land), early-churning
cross-sells (ended 30–170 days after they started) and one family whose attach rate
rises while its price erodes in the last year. The organic book is built so that none
of those patterns occurs in it by accident: organic cross-sells come ≥ 91 days after
land, organic discounts stay ≤ 35%, and nothing cross-sold ends within 180 days.

Everything comes from one ``random.Random(seed)``: the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl

from .errors import OutputError
from .render import write_atomic

BOOK_START = dt.date(2022, 1, 1)
BOOK_END = dt.date(2025, 12, 31)
LAST_LAND = dt.date(2025, 9, 30)
# Both pass-through reps sell in LATAM, the smallest region, so their planted lines are a
# large share of their cross-sells whatever the book's size.
PASS_THROUGH_REPS = ("Dana Whitfield", "Priya Raman")
EROSION_FAMILY = "AI Assistant"
# The halves of the default 365-day window that `xsell flags` compares: (T-365, T-183] and (T-183, T].
EROSION_START = BOOK_END - dt.timedelta(days=365)
EROSION_FROM = BOOK_END - dt.timedelta(days=183)

SEGMENTS = (("SMB", 0.55), ("Mid-Market", 0.30), ("Enterprise", 0.15))
REGIONS = (("North America", 0.45), ("EMEA", 0.30), ("APAC", 0.15), ("LATAM", 0.10))
INDUSTRIES = (
    "Software",
    "Healthcare",
    "Finance",
    "Retail",
    "Manufacturing",
    "Education",
    "Logistics",
    "Media",
)
SEATS = {"SMB": (5, 30), "Mid-Market": (30, 150), "Enterprise": (150, 900)}
DISCOUNT = {"SMB": (0.0, 0.15), "Mid-Market": (0.05, 0.25), "Enterprise": (0.10, 0.35)}
CHURN = {"SMB": 0.22, "Mid-Market": 0.12, "Enterprise": 0.06}
CORE_TIER = {"SMB": "CORE-STARTER", "Mid-Market": "CORE-PRO", "Enterprise": "CORE-ENT"}

REP_NAMES = (
    "Avery Brooks",
    "Blake Chen",
    "Carmen Diaz",
    "Dana Whitfield",
    "Eli Novak",
    "Farah Khan",
    "Gus Moreau",
    "Hana Sato",
    "Ivan Petrov",
    "Jade Okafor",
    "Kai Lindqvist",
    "Lena Fischer",
    "Marco Reyes",
    "Nia Adeyemi",
    "Omar Haddad",
    "Priya Raman",
    "Quinn Murphy",
    "Rosa Alvarez",
    "Sam Whitaker",
    "Tara Singh",
)
NAME_A = (
    "Acme",
    "Apex",
    "Blue",
    "Bright",
    "Cedar",
    "Crest",
    "Delta",
    "Ember",
    "Fern",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nova",
    "Orbit",
    "Pine",
    "Quartz",
    "River",
    "Summit",
    "Terra",
    "Umber",
    "Vertex",
    "Willow",
    "Yarrow",
    "Zephyr",
)
NAME_B = (
    "Analytics",
    "Bank",
    "Clinic",
    "Foods",
    "Freight",
    "Games",
    "Health",
    "Labs",
    "Logistics",
    "Media",
    "Motors",
    "Networks",
    "Partners",
    "Retail",
    "Robotics",
    "Schools",
    "Software",
    "Systems",
    "Textiles",
    "Works",
)


@dataclass(frozen=True)
class Product:
    product_id: str
    product_name: str
    family: str
    list_price: float
    sellable: bool = True


# family -> its products (tiers first to last); list prices are per seat per year
CATALOGUE: tuple[Product, ...] = (
    Product("CORE-STARTER", "Core Starter", "Core", 300.0),
    Product("CORE-PRO", "Core Pro", "Core", 600.0),
    Product("CORE-ENT", "Core Enterprise", "Core", 1000.0),
    Product("SUCCESS", "Success Plan", "Success Plan", 60.0),
    Product("ANALYTICS", "Analytics", "Analytics", 250.0),
    Product("ANALYTICS-PLUS", "Analytics Plus", "Analytics", 450.0),
    Product("PAYMENTS", "Payments", "Payments", 120.0),
    Product("PAYROLL", "Payroll", "Payroll", 200.0),
    Product("SECURITY-STD", "Security Standard", "Security", 150.0),
    Product("SECURITY-ADV", "Security Advanced", "Security", 300.0),
    Product("INTEGRATIONS", "Integrations Hub", "Integrations", 100.0),
    Product("MOBILE", "Mobile", "Mobile", 80.0),
    Product("AI-ASSIST", "AI Assistant", "AI Assistant", 180.0),
    Product("LEGACY", "Legacy Connector", "Legacy Connector", 50.0, sellable=False),
)
# families an account can be cross-sold, with the probability per segment over its life
AFFINITY: dict[str, dict[str, float]] = {
    "Analytics": {"SMB": 0.15, "Mid-Market": 0.45, "Enterprise": 0.40},
    "Payments": {"SMB": 0.45, "Mid-Market": 0.15, "Enterprise": 0.05},
    "Payroll": {"SMB": 0.25, "Mid-Market": 0.35, "Enterprise": 0.15},
    "Security": {"SMB": 0.05, "Mid-Market": 0.20, "Enterprise": 0.55},
    "Integrations": {"SMB": 0.12, "Mid-Market": 0.30, "Enterprise": 0.35},
    "Mobile": {"SMB": 0.30, "Mid-Market": 0.10, "Enterprise": 0.05},
    "AI Assistant": {"SMB": 0.08, "Mid-Market": 0.15, "Enterprise": 0.25},
}
# a land bundle sometimes carries one more family
LAND_EXTRA = {"SMB": ("Payments", 0.15), "Mid-Market": ("Analytics", 0.20), "Enterprise": ("Security", 0.25)}


@dataclass(frozen=True)
class SampleSpec:
    accounts: int = 4000
    seed: int = 7
    families: int = 10  # 10 = the catalogue above; more adds generic "Module NN" families


LINE_COLUMNS = (
    "line_id",
    "account_id",
    "product_id",
    "contract_id",
    "booked_at",
    "start_date",
    "end_date",
    "amount",
    "list_amount",
    "discount",
    "quantity",
    "rep",
    "stage",
)
PLANTED_COLUMNS = ("flag", "severity", "line_id", "account_id", "family", "base_family", "rep", "detail")
LINE_SCHEMA = {
    "line_id": pl.String,
    "account_id": pl.String,
    "product_id": pl.String,
    "contract_id": pl.String,
    "booked_at": pl.Date,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "amount": pl.Float64,
    "list_amount": pl.Float64,
    "discount": pl.Float64,
    "quantity": pl.Float64,
    "rep": pl.String,
    "stage": pl.String,
}


@dataclass
class _Book:
    lines: dict[str, list[object]] = field(default_factory=lambda: {c: [] for c in LINE_COLUMNS})
    planted: list[dict[str, object]] = field(default_factory=list)
    line_seq: int = 0
    contract_seq: int = 0


class _Generator:
    def __init__(self, spec: SampleSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.book = _Book()
        self.products = list(CATALOGUE)
        self.affinity = dict(AFFINITY)
        for k in range(11, spec.families + 1):
            family = f"Module {k:02d}"
            self.products.append(Product(f"MOD-{k:02d}", family, family, float(self.rng.choice((60, 90, 120, 150)))))
            self.affinity[family] = {s: round(self.rng.uniform(0.06, 0.24), 3) for s, _ in SEGMENTS}
        self.by_family: dict[str, list[Product]] = {}
        for product in self.products:
            self.by_family.setdefault(product.family, []).append(product)
        self.reps_by_region = self._assign_reps()
        self._offset = 0
        # Cross-sell lines and planted (flagged) lines per rep, to keep the planted premature
        # and early-churn lines spread like the book's: only the pass-through reps concentrate.
        self.rep_cross: dict[str, int] = dict.fromkeys(REP_NAMES, 0)
        self.rep_flagged: dict[str, int] = dict.fromkeys(REP_NAMES, 0)
        self.rep_pass_through: dict[str, int] = dict.fromkeys(REP_NAMES, 0)
        # AI Assistant lines in each half of the last year: the erosion needs volume to show.
        self.erosion_lines = [0, 0]

    # --- helpers -----------------------------------------------------------------------

    def _assign_reps(self) -> dict[str, list[str]]:
        names = list(REP_NAMES)
        out: dict[str, list[str]] = {}
        for i, (region, _w) in enumerate(REGIONS):
            out[region] = names[i :: len(REGIONS)]
        return out

    def _pick(self, weighted: tuple[tuple[str, float], ...]) -> str:
        r = self.rng.random()
        acc = 0.0
        for value, weight in weighted:
            acc += weight
            if r < acc:
                return value
        return weighted[-1][0]

    def _date(self, start: dt.date, end: dt.date) -> dt.date:
        span = (end - start).days
        return start + dt.timedelta(days=self.rng.randint(0, max(span, 0)))

    def _contract(self) -> str:
        self.book.contract_seq += 1
        return f"C-{self.book.contract_seq:07d}"

    def _line(
        self,
        account: str,
        product: Product,
        contract: str,
        booked: dt.date,
        seats: int,
        rep: str,
        *,
        discount: float,
        stage: str = "won",
        end: dt.date | None = None,
    ) -> str:
        self.book.line_seq += 1
        line_id = f"L-{self.book.line_seq:08d}"
        list_amount = round(product.list_price * seats, 2)
        amount = round(list_amount * (1 - discount), 2)
        cols = self.book.lines
        for name, value in (
            ("line_id", line_id),
            ("account_id", account),
            ("product_id", product.product_id),
            ("contract_id", contract),
            ("booked_at", booked),
            ("start_date", booked),
            ("end_date", end),
            ("amount", amount),
            ("list_amount", list_amount),
            ("discount", round(discount, 4)),
            ("quantity", float(seats)),
            ("rep", rep),
            ("stage", stage),
        ):
            cols[name].append(value)
        return line_id

    def _end(self, line_id: str, when: dt.date) -> None:
        """End an open line (the index is its sequence number)."""
        index = int(line_id[2:]) - 1 - self._offset  # lines of the current chunk only
        ends = self.book.lines["end_date"]
        if ends[index] is None or ends[index] > when:  # type: ignore[operator]
            ends[index] = when

    def _plant(self, flag: str, severity: str, **values: object) -> None:
        row: dict[str, object] = dict.fromkeys(PLANTED_COLUMNS)
        row.update(flag=flag, severity=severity, **values)
        self.book.planted.append(row)

    # --- the book ------------------------------------------------------------------------

    def accounts(self) -> pl.DataFrame:
        rows = []
        for i in range(1, self.spec.accounts + 1):
            segment = self._pick(SEGMENTS)
            region = self._pick(REGIONS)
            name = f"{self.rng.choice(NAME_A)} {self.rng.choice(NAME_B)} {i:05d}"
            # More recent lands are more frequent: a growing business.
            land = BOOK_START + dt.timedelta(days=int((LAST_LAND - BOOK_START).days * (self.rng.random() ** 0.8)))
            rows.append(
                {
                    "account_id": f"A-{i:06d}",
                    "account_name": name,
                    "segment": segment,
                    "industry": self.rng.choice(INDUSTRIES),
                    "region": region,
                    "owner": self.rng.choice(self.reps_by_region[region]),
                    "created_at": land - dt.timedelta(days=self.rng.randint(5, 120)),
                    "_land": land,
                }
            )
        return pl.DataFrame(rows)

    def line_chunks(self, accounts: pl.DataFrame, chunk: int = 20_000) -> Iterator[pl.DataFrame]:
        """Line items, a chunk of accounts at a time (a million accounts fit in memory)."""
        plant_plan = self._plan_plants(accounts)
        for start in range(0, accounts.height, chunk):
            self._offset = self.book.line_seq
            self.book.lines = {c: [] for c in LINE_COLUMNS}
            for row in accounts.slice(start, chunk).iter_rows(named=True):
                self._account(row, plant_plan.get(row["account_id"], ()))
            yield pl.DataFrame(self.book.lines, schema=LINE_SCHEMA)

    def products_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {
                    "product_id": p.product_id,
                    "product_name": p.product_name,
                    "family": p.family,
                    "list_price": p.list_price,
                    "sellable": p.sellable,
                }
                for p in self.products
            ]
        )

    def planted_frame(self) -> pl.DataFrame:
        rows = list(self.book.planted)
        rows.append(
            {c: None for c in PLANTED_COLUMNS}
            | {
                "flag": "forced_bundle",
                "severity": "medium",
                "family": "Success Plan",
                "base_family": "Core",
                "detail": "Success Plan is only ever sold on the Core land contract",
            }
        )
        for rep in PASS_THROUGH_REPS:
            if self.rep_pass_through[rep] < 3:  # the flag needs at least 3 flagged lines
                continue
            rows.append(
                {c: None for c in PLANTED_COLUMNS}
                | {
                    "flag": "rep_concentration",
                    "severity": "medium",
                    "rep": rep,
                    "detail": "books the planted pass-through cross-sells",
                }
            )
        # The flag needs min_base (10) lines in each half and more buyers in the second.
        if min(self.erosion_lines) >= 10 and self.erosion_lines[1] > self.erosion_lines[0]:
            rows.append(
                {c: None for c in PLANTED_COLUMNS}
                | {
                    "flag": "price_erosion",
                    "severity": "medium",
                    "family": EROSION_FAMILY,
                    "detail": "sold more often and 45-60% off in the last half year",
                }
            )
        return pl.DataFrame(rows, schema={c: pl.String for c in PLANTED_COLUMNS})

    def _plan_plants(self, accounts: pl.DataFrame) -> dict[str, tuple[str, ...]]:
        """Choose which accounts carry which planted pattern (disjoint, deterministic)."""
        n = accounts.height
        ids = accounts.filter(pl.col("_land") <= LAST_LAND - dt.timedelta(days=240))["account_id"].to_list()
        self.rng.shuffle(ids)
        count = max(6, n // 100)
        plan: dict[str, tuple[str, ...]] = {}
        cursor = 0
        for pattern, k in (
            ("pass_through", count),
            ("premature", count),
            ("early_churn", count),
            ("premature_churn", max(3, count // 3)),
        ):
            for account in ids[cursor : cursor + k]:
                plan[account] = (pattern,)
            cursor += k
        return plan

    def _account(self, acct: dict[str, object], plants: tuple[str, ...]) -> None:
        rng = self.rng
        account = str(acct["account_id"])
        segment = str(acct["segment"])
        region = str(acct["region"])
        owner = str(acct["owner"])
        land: dt.date = acct["_land"]  # type: ignore[assignment]
        lo, hi = SEATS[segment]
        seats = rng.randint(lo, hi)
        dlo, dhi = DISCOUNT[segment]

        def discount() -> float:
            return round(rng.uniform(dlo, dhi), 2)

        def rep() -> str:
            return owner if rng.random() < 0.85 else rng.choice(self.reps_by_region[region])

        def balanced_rep() -> str:
            """The rep whose flagged share of cross-sells is lowest (pass-through reps excepted)."""
            pool = [r for r in REP_NAMES if r not in PASS_THROUGH_REPS]
            chosen = min(pool, key=lambda r: ((self.rep_flagged[r] + 1) / (self.rep_cross[r] + 1), r))
            self.rep_flagged[chosen] += 1
            self.rep_cross[chosen] += 1
            return chosen

        # Prospects: some accounts never buy (only lost or open deals). Planted accounts buy.
        if rng.random() < 0.04 and not plants:
            core = self.by_family["Core"][0]
            self._line(account, core, self._contract(), land, seats, owner, discount=discount(), stage="lost")
            return

        # Land: Core + Success Plan (+ sometimes one more family) on one contract.
        contract = self._contract()
        land_rep = rep()
        core = next(p for p in self.products if p.product_id == CORE_TIER[segment])
        open_lines: dict[str, list[tuple[str, dt.date]]] = {}  # family -> [(line_id, start)]
        core_line = self._line(account, core, contract, land, seats, land_rep, discount=discount())
        open_lines["Core"] = [(core_line, land)]
        owned = {"Core"}
        # The forced bundle: the Success Plan is only ever sold on a Core land contract
        # (most of them), so "Core -> Success Plan" attach is bundling, not selling.
        if rng.random() < 0.7:
            success = self.by_family["Success Plan"][0]
            open_lines["Success Plan"] = [
                (self._line(account, success, contract, land, seats, land_rep, discount=discount()), land)
            ]
            owned.add("Success Plan")
        extra_family, extra_p = LAND_EXTRA[segment]
        if rng.random() < extra_p:
            product = self.by_family[extra_family][0]
            open_lines[extra_family] = [
                (
                    self._line(account, product, contract, land, max(1, seats // 2), land_rep, discount=discount()),
                    land,
                )
            ]
            owned.add(extra_family)
        if land < dt.date(2023, 1, 1) and rng.random() < 0.15:
            legacy = self.by_family["Legacy Connector"][0]
            when = land + dt.timedelta(days=rng.randint(100, 300))
            legacy_rep = rep()
            self.rep_cross[legacy_rep] += 1
            open_lines["Legacy Connector"] = [
                (self._line(account, legacy, self._contract(), when, 1, legacy_rep, discount=0.0), when)
            ]
            owned.add("Legacy Connector")

        cross_starts: dict[str, dt.date] = {}
        late_starts: list[dt.date] = []  # planted lines that already ended
        if "Legacy Connector" in open_lines:
            cross_starts["Legacy Connector"] = open_lines["Legacy Connector"][0][1]
        horizon = BOOK_END

        # Planted: premature cross-sell (10–85 days after land), maybe churning early.
        if plants and plants[0] in ("premature", "premature_churn"):
            family = self._unowned(owned, segment)
            when = land + dt.timedelta(days=rng.randint(10, 85))
            line_rep = balanced_rep()
            product = self.by_family[family][0]
            line = self._line(
                account, product, self._contract(), when, max(1, seats // 2), line_rep, discount=discount()
            )
            owned.add(family)
            cross_starts[family] = when
            self._plant(
                "premature",
                "low",
                line_id=line,
                account_id=account,
                family=family,
                rep=line_rep,
                detail=f"booked {(when - land).days} days after land",
            )
            if plants[0] == "premature_churn":
                late_starts.append(when)
                end = when + dt.timedelta(days=rng.randint(30, 170))
                self._end_line(line, end, open_lines, family)
                self._plant(
                    "early_churn",
                    "medium",
                    account_id=account,
                    family=family,
                    rep=line_rep,
                    detail=f"ended {(end - when).days} days after it started",
                )
            else:
                open_lines.setdefault(family, []).append((line, when))

        # Organic cross-sells: >= 91 days after land, probability by segment and what is owned.
        candidates = [f for f in self.affinity if f not in owned]
        rng.shuffle(candidates)
        for family in candidates:
            p = self.affinity[family][segment]
            if family == "AI Assistant" and "Analytics" in owned:
                p += 0.20
            if family == "Payroll" and "Payments" in owned:
                p += 0.15
            if rng.random() >= p:
                if rng.random() < 0.12:  # a lost attempt
                    when = self._date(land + dt.timedelta(days=91), horizon)
                    if when <= BOOK_END:
                        product = self.by_family[family][0]
                        self._line(
                            account,
                            product,
                            self._contract(),
                            when,
                            max(1, seats // 3),
                            rep(),
                            discount=discount(),
                            stage="lost",
                        )
                continue
            when = land + dt.timedelta(days=91 + int(rng.expovariate(1 / 260)))
            # The planted price erosion: AI Assistant sells half as often in the half year
            # before the last one, then more (and cheaper, below) lately.
            if family == EROSION_FAMILY and EROSION_START < when <= EROSION_FROM and rng.random() < 0.5:
                continue
            if when > BOOK_END:
                continue
            product = self.by_family[family][0]
            line_rep = rep()
            d = discount()
            if family == EROSION_FAMILY and when > EROSION_FROM:
                d = round(rng.uniform(0.45, 0.60), 2)
            qty = max(1, int(seats * rng.uniform(0.3, 1.0)))
            line = self._line(account, product, self._contract(), when, qty, line_rep, discount=d)
            self.rep_cross[line_rep] += 1
            if family == EROSION_FAMILY and when > EROSION_START:
                self.erosion_lines[when > EROSION_FROM] += 1
            open_lines.setdefault(family, []).append((line, when))
            owned.add(family)
            cross_starts[family] = when

        # Planted: pass-through cross-sell folded into a Core seat expansion.
        if plants and plants[0] == "pass_through":
            family = self._unowned(owned, segment)
            when = land + dt.timedelta(days=rng.randint(120, 700))
            when = min(when, BOOK_END - dt.timedelta(days=1))
            contract = self._contract()
            line_rep = PASS_THROUGH_REPS[self.book.line_seq % 2]
            add = max(1, seats // 5)
            core_add = self._line(account, core, contract, when, add, line_rep, discount=discount())
            open_lines["Core"].append((core_add, when))
            product = self.by_family[family][0]
            d = round(rng.uniform(0.95, 1.0), 2)
            line = self._line(account, product, contract, when, max(1, seats // 2), line_rep, discount=d)
            self.rep_cross[line_rep] += 1
            self.rep_pass_through[line_rep] += 1
            open_lines.setdefault(family, []).append((line, when))
            owned.add(family)
            cross_starts[family] = when
            self._plant(
                "pass_through",
                "high",
                line_id=line,
                account_id=account,
                family=family,
                rep=line_rep,
                detail=f"{d:.0%} off, on contract {contract} with a Core line",
            )

        # Planted: a cross-sell that churns within 30–170 days.
        if plants and plants[0] == "early_churn":
            family = self._unowned(owned, segment)
            when = land + dt.timedelta(days=rng.randint(120, 600))
            end = when + dt.timedelta(days=rng.randint(30, 170))
            if end > BOOK_END:
                shift = (end - BOOK_END).days + 1
                when -= dt.timedelta(days=shift)
                end -= dt.timedelta(days=shift)
            line_rep = balanced_rep()
            product = self.by_family[family][0]
            line = self._line(
                account,
                product,
                self._contract(),
                when,
                max(1, seats // 3),
                line_rep,
                discount=discount(),
                end=end,
            )
            late_starts.append(when)
            owned.add(family)
            self._plant(
                "early_churn",
                "medium",
                account_id=account,
                family=family,
                rep=line_rep,
                detail=f"ended {(end - when).days} days after it started",
            )

        # Churn is decided before the later upsells so that no line starts after it, and
        # never within 180 days of a cross-sold family's start (that would be early churn).
        churn: dt.date | None = None
        # Accounts using more families churn less, and single-product ones churn sooner:
        # the retention story the data should tell.
        crossed = len(cross_starts)
        if rng.random() < CHURN[segment] * (1.8, 0.6, 0.3)[min(crossed, 2)]:
            when = land + dt.timedelta(days=rng.randint(200, 900) if crossed == 0 else rng.randint(400, 1300))
            latest_cross = max([*cross_starts.values(), *late_starts], default=land)
            when = max(when, latest_cross + dt.timedelta(days=181))
            churn = when if when <= BOOK_END else None
        last_day = min(BOOK_END, churn - dt.timedelta(days=1)) if churn else BOOK_END

        # Upsell: more Core seats; a tier switch up or down.
        if rng.random() < 0.35:
            when = land + dt.timedelta(days=rng.randint(150, 900))
            if when <= last_day:
                add = max(1, int(seats * rng.uniform(0.1, 0.5)))
                line = self._line(account, core, self._contract(), when, add, rep(), discount=discount())
                open_lines["Core"].append((line, when))
        tiers = self.by_family["Core"]
        index = tiers.index(core)
        if rng.random() < 0.15:
            step = 1 if index < len(tiers) - 1 and (index == 0 or rng.random() < 0.7) else -1
            when = land + dt.timedelta(days=rng.randint(200, 1000))
            if when <= last_day and 0 <= index + step < len(tiers):
                old_line, _ = open_lines["Core"][0]
                self._end(old_line, when)
                new = tiers[index + step]
                line = self._line(account, new, self._contract(), when, seats, rep(), discount=discount())
                open_lines["Core"][0] = (line, when)

        # Contraction: drop one non-Core family at least 181 days after it started.
        droppable = [f for f in open_lines if f not in ("Core", "Success Plan")]
        if droppable and rng.random() < 0.10:
            family = rng.choice(sorted(droppable))
            first = min(start for _, start in open_lines[family])
            when = first + dt.timedelta(days=rng.randint(181, 700))
            if when <= last_day:
                for line, _ in open_lines[family]:
                    self._end(line, when)

        if churn is not None:
            for family_lines in open_lines.values():
                for line, _ in family_lines:
                    self._end(line, churn)
            # Some come back a few months later with Core.
            back = churn + dt.timedelta(days=rng.randint(90, 300))
            if rng.random() < 0.15 and back <= BOOK_END:
                self._line(account, core, self._contract(), back, max(1, seats // 2), rep(), discount=discount())

        # An open deal in the pipeline, expected to close after the book ends.
        if rng.random() < 0.05:
            family = self._unowned(owned, segment, allow_none=True)
            if family:
                when = BOOK_END + dt.timedelta(days=rng.randint(10, 90))
                self._line(
                    account,
                    self.by_family[family][0],
                    self._contract(),
                    when,
                    max(1, seats // 3),
                    owner,
                    discount=discount(),
                    stage="open",
                )

    def _end_line(
        self, line: str, when: dt.date, open_lines: dict[str, list[tuple[str, dt.date]]], family: str
    ) -> None:
        self._end(line, when)
        open_lines.pop(family, None)

    def _unowned(self, owned: set[str], segment: str, *, allow_none: bool = False) -> str:
        choices = sorted(f for f in self.affinity if f not in owned and f != EROSION_FAMILY)
        if not choices:
            if allow_none:
                return ""
            raise AssertionError("every family owned")  # pragma: no cover - ten families, few owned
        return self.rng.choice(choices)


def generate(spec: SampleSpec) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(accounts, products, line_items, planted) for ``spec``, in memory."""
    gen = _Generator(spec)
    accounts = gen.accounts()
    lines = pl.concat(list(gen.line_chunks(accounts)), how="vertical")
    return accounts.drop("_land"), gen.products_frame(), lines, gen.planted_frame()


def write_sample(folder: Path, spec: SampleSpec) -> list[Path]:
    """Write the four CSV files; line items are streamed a chunk of accounts at a time."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}") from None
    gen = _Generator(spec)
    accounts = gen.accounts()
    written = []

    def lines_writer(fh: IO[bytes]) -> None:
        for i, chunk in enumerate(gen.line_chunks(accounts)):
            chunk.write_csv(fh, include_header=i == 0)

    for name, content in (
        ("accounts", accounts.drop("_land")),
        ("products", gen.products_frame()),
        ("line_items", lines_writer),
    ):
        target = folder / f"{name}.csv"
        if isinstance(content, pl.DataFrame):
            write_atomic(target, content.write_csv().encode("utf-8"))
        else:
            write_atomic(target, content)
        written.append(target)
    target = folder / "planted.csv"
    write_atomic(target, gen.planted_frame().write_csv().encode("utf-8"))
    written.append(target)
    return written
