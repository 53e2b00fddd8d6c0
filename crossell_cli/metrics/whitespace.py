"""Whitespace: what each customer does not own yet, scored and valued (SPEC §2 "whitespace").

For account a and every sellable family B it does not own at T:
  score           the estimated probability that a buys B next: for each family A that a
                  owns, attach_rate(A -> B) among customers of a's segment when that base has
                  at least min_base customers, else among all customers; the highest wins.
                  Forced-bundle pairs are no evidence.
  expected_value  score × typical ARR of B: the median amount of B's won lines among the
                  customers (at T) of a's segment, else among all customers, else the median
                  list price of B's products; empty when none is known.
  reason          the evidence in words: "owns Core; 35% of Core customers in Mid-Market
                  also own Analytics" (empty, and score 0, when no owned family has any).
  rank            1 = highest expected_value within the account.
Grain: one row per (customer, family not owned). Evidence always comes from the whole
book; filters only choose which accounts are listed.

Accounts with the same segment and the same set of owned families get the same scores,
so scores are computed once per such signature and then given to every account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import polars as pl

from ..model import Model
from ..text import fmt
from .pairs import self_join_pairs
from .stats import fraction_mean, money_sum, ratio

Order = Literal["account", "value"]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

COLUMNS = ("account_id", "account_name", "family", "score", "expected_value", "reason", "rank")
_NO_SEGMENT = "\x00none"
# Scoring every (account, owned family, candidate family) is exact but cubic: on a catalogue of
# thousands of products (a retailer's stock codes) it is billions of rows. Past this many,
# each owned family contributes only its TOP_TARGETS most attached families.
CANDIDATE_BUDGET = 20_000_000
TOP_TARGETS = 50


def _signatures(model: Model) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """(owned with segment, account -> signature id, signature id -> segment and each base).

    A signature is a segment plus a set of owned families; accounts sharing one get the same
    scores, so scoring happens once per signature (a handful on a family catalogue).
    """
    ownership = model.ownership()
    segments = model.accounts.lazy().select("account_id", pl.col("segment").fill_null(_NO_SEGMENT))
    owned = ownership.join(segments, on="account_id", how="left").with_columns(pl.col("segment").fill_null(_NO_SEGMENT))
    signatures = owned.group_by("account_id").agg(
        pl.col("segment").first(), pl.col("item").sort().str.join("\x1f").alias("owned_set")
    )
    ids = (
        signatures.select("segment", "owned_set").unique().sort("segment", "owned_set").with_row_index("sig", offset=1)
    )
    accounts = signatures.join(ids, on=["segment", "owned_set"]).select("account_id", "sig", "segment")
    bases = (
        ids.with_columns(pl.col("owned_set").str.split("\x1f").alias("base"))
        .explode("base")
        .select("sig", "segment", "base")
    )
    return owned, accounts, bases


def is_pruned(model: Model) -> bool:
    """True when the catalogue is too large to score every family for every account exactly."""
    bases = _signatures(model)[2].select(pl.len()).collect().item()
    families = _sellable_items(model).select(pl.len()).collect().item()
    return bool(bases * families > CANDIDATE_BUDGET)


def _whitespace_long(
    model: Model,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The long form, for catalogues wider than WIDE_LIMIT: one row per (signature, owned
    family, candidate family), then the best evidence per (signature, candidate).

    On a catalogue too large to score exactly (``is_pruned``) an account lists only the
    families among the TOP_TARGETS most attached to one of the families it owns.
    """
    owned, people, bases = _signatures(model)
    sellable = _sellable_items(model)
    pruned = is_pruned(model)
    rates = _rates(owned, sellable, min_base=min_base, forced_pairs=forced_pairs, dense=not pruned)
    owned_by_sig = bases.select("sig", pl.col("base").alias("family"))
    if pruned:
        strongest = rates.filter(pl.col("rate") > 0).filter(
            pl.col("rate").rank("ordinal", descending=True).over("segment", "base") <= TOP_TARGETS
        )
        candidates = bases.join(strongest, on=["segment", "base"])
    else:
        candidates = bases.join(sellable, how="cross").join(rates, on=["segment", "base", "family"], how="left")
    candidates = candidates.join(owned_by_sig, on=["sig", "family"], how="anti")
    ranked = ["rate", "base"]
    best = candidates.group_by("sig", "segment", "family").agg(
        pl.col("rate").max().alias("evidence"),
        pl.col("rate").max().fill_null(0.0).alias("score"),
        pl.col("base").sort_by(ranked, descending=[True, False], nulls_last=True).first(),
        pl.col("scope").sort_by(ranked, descending=[True, False], nulls_last=True).first(),
    )
    typical = _typical_value(model, people.select("account_id", "segment"), owned.select("account_id", "item"))
    scored = best.join(typical, on=["segment", "family"], how="left").with_columns(
        (pl.col("score") * pl.col("typical")).alias("expected_value")
    )
    if accounts is not None:
        people = people.join(accounts.lazy().select("account_id"), on="account_id", how="semi")
    names = model.accounts.lazy().select("account_id", "account_name")
    percent = (pl.col("score") * 100).round(0).cast(pl.Int64).cast(pl.String)
    scope = pl.when(pl.col("scope") == "segment").then(fmt(" in {}", pl.col("segment"))).otherwise(pl.lit(""))
    reason = pl.concat_str(
        [
            pl.lit("owns "),
            pl.col("base"),
            pl.lit("; "),
            percent,
            pl.lit("% of "),
            pl.col("base"),
            pl.lit(" customers"),
            scope,
            pl.lit(" also own "),
            pl.col("family"),
        ]
    )
    result = (
        people.join(scored.drop("segment"), on="sig")
        .join(names, on="account_id", how="left")
        .with_columns(pl.when(pl.col("evidence").is_not_null()).then(reason).alias("reason"))
        .sort(
            ["account_id", "expected_value", "score", "family"],
            descending=[False, True, True, False],
            nulls_last=True,
        )
        .with_columns(pl.int_range(1, pl.len() + 1).over("account_id").cast(pl.Int64).alias("rank"))
        .select(COLUMNS)
    )
    return result.collect()


def whitespace(
    model: Model,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Scored whitespace for every customer (or those in ``accounts``), ranked per account,
    ordered by account, then rank."""
    return whitespace_plan(model, min_base=min_base, forced_pairs=forced_pairs, accounts=accounts).collect()


def whitespace_plan(
    model: Model,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
    order: Order = "account",
    top: int | None = None,
) -> pl.LazyFrame:
    """The whitespace rows as a lazy plan in their final order.

    ``order`` "account": by account, then rank; "value": by expected_value (largest first),
    then account and family. ``top`` keeps the first rows of that order. On a family
    catalogue (at most WIDE_LIMIT families) the rows are computed exactly from one row per
    customer (see ``_Wide``); a wider one takes the long form, pruned past its budget.
    """
    wide = _Wide.build(model, min_base=min_base, forced_pairs=forced_pairs)
    if wide is None:
        rows = _whitespace_long(model, min_base=min_base, forced_pairs=forced_pairs, accounts=accounts).lazy()
        if order == "value":
            rows = rows.sort(
                ["expected_value", "account_id", "family"], descending=[True, False, False], nulls_last=True
            )
        return rows if top is None else rows.head(top)
    return wide.rows(accounts=accounts, order=order, top=top)


def _rates(
    owned: pl.LazyFrame,
    targets: pl.LazyFrame,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | None,
    dense: bool = True,
) -> pl.LazyFrame:
    """attach_rate(base -> family) per segment where the segment base is >= min_base, else overall.

    Columns: segment, base, family, rate, scope ('segment' or 'all').
    """
    pairs = owned.join(owned.select("account_id", pl.col("item").alias("family")), on="account_id").filter(
        pl.col("item") != pl.col("family")
    )
    seg_base = owned.group_by("segment", "item").agg(pl.len().alias("n"))
    seg_both = pairs.group_by("segment", "item", "family").agg(pl.len().alias("both"))
    all_base = seg_base.group_by("item").agg(pl.col("n").sum().alias("n_all"))
    all_both = seg_both.group_by("item", "family").agg(pl.col("both").sum().alias("both_all"))
    # Every family that could be offered, owned by anyone or not: 0 of a base owning it is
    # evidence too (a 0% attach rate), not a missing value.
    if dense:
        grid = seg_base.join(targets, how="cross")
    else:  # only pairs someone owns together: the zeros are not worth a row each
        grid = seg_base.join(all_both.select("item", "family").join(targets, on="family", how="semi"), on="item")
    grid = grid.filter(pl.col("item") != pl.col("family"))
    grid = (
        grid.join(seg_both, on=["segment", "item", "family"], how="left")
        .join(all_base, on="item", how="left")
        .join(all_both, on=["item", "family"], how="left")
        .with_columns(pl.col("both").fill_null(0), pl.col("both_all").fill_null(0))
    )
    use_segment = (pl.col("n") >= min_base) & (pl.col("segment") != _NO_SEGMENT)
    rates = grid.select(
        "segment",
        pl.col("item").alias("base"),
        "family",
        pl.when(use_segment)
        .then(ratio(pl.col("both"), pl.col("n")))
        .otherwise(ratio(pl.col("both_all"), pl.col("n_all")))
        .alias("rate"),
        pl.when(use_segment).then(pl.lit("segment")).otherwise(pl.lit("all")).alias("scope"),
    )
    if forced_pairs is not None and not forced_pairs.is_empty():
        forced = forced_pairs.lazy().select(pl.col("base_family").alias("base"), "family")
        rates = rates.join(forced, on=["base", "family"], how="anti")
    return rates


def _sellable_items(model: Model) -> pl.LazyFrame:
    """Families (or products) that may be offered: a catalogue entry with a sellable product,
    or an item seen on won lines that the catalogue does not know (sellable by default)."""
    key = "product_id" if model.level == "product" else "family"
    catalogue = model.products.lazy().group_by(pl.col(key).alias("family")).agg(pl.col("sellable").any())
    seen = model.won.select(pl.col("item").alias("family")).unique()
    return (
        seen.join(catalogue, on="family", how="full", coalesce=True)
        .filter(pl.col("sellable").fill_null(True))
        .select("family")
    )


def _typical_value(model: Model, segments: pl.LazyFrame, ownership: pl.LazyFrame) -> pl.LazyFrame:
    """segment, family, typical: median won-line amount among the segment's customers, else
    among all customers, else the median list price of the family's products."""
    customers = ownership.select("account_id").unique()
    lines = (
        model.won.select("account_id", pl.col("item").alias("family"), "amount")
        .join(customers, on="account_id", how="semi")
        .join(segments, on="account_id", how="left")
        .with_columns(pl.col("segment").fill_null(_NO_SEGMENT))
    )
    # Accounts without a segment have no segment evidence: they use the whole book.
    by_segment = (
        lines.filter(pl.col("segment") != _NO_SEGMENT)
        .group_by("segment", "family")
        .agg(pl.col("amount").median().alias("seg_median"))
    )
    overall = lines.group_by("family").agg(pl.col("amount").median().alias("all_median"))
    key = "product_id" if model.level == "product" else "family"
    prices = (
        model.products.lazy()
        .group_by(pl.col(key).alias("family"))
        .agg(pl.col("list_price").median().alias("list_price"))
    )
    all_segments = segments.select("segment").unique()
    families = pl.concat([lines.select("family"), prices.select("family")]).unique()
    return (
        all_segments.join(families, how="cross")
        .join(by_segment, on=["segment", "family"], how="left")
        .join(overall, on="family", how="left")
        .join(prices, on="family", how="left")
        .with_columns(pl.coalesce("seg_median", "all_median", "list_price").alias("typical"))
        .select("segment", "family", "typical")
    )


def by_family(rows: Frame) -> Frame:
    """Roll-up: family, non_owners (customers without it), whitespace_value (Σ expected value)."""
    return (
        rows.group_by("family")
        .agg(
            pl.len().cast(pl.Int64).alias("non_owners"),
            money_sum(pl.col("expected_value")).alias("whitespace_value"),
            fraction_mean(pl.col("score")).alias("mean_score"),
        )
        .sort(["whitespace_value", "family"], descending=[True, False])
    )


# ---------------------------------------------------------------------------------------
# the exact form for a family catalogue: one row per customer

WIDE_LIMIT = 64  # families whose ownership fits one u64 mask per customer


def _width(count: int) -> int:
    """Bits that hold the values 0 .. count - 1."""
    return max(1, (max(count, 1) - 1).bit_length())


@dataclass(frozen=True)
class _Wide:
    """Exact whitespace when the catalogue has at most WIDE_LIMIT families.

    The evidence for B from A in segment s (an attach rate, SPEC's fallback to the whole
    book below min_base) is ranked once per (s, B): rank 0 is the best base. A customer's
    score for B is then the best rank among the families it owns: one group-by over the
    ownership rows with a min per family, never a customers × owned × candidates table.
    Everything that depends only on (s, B, rank) — score, expected value, reason, order —
    is a lookup table of a few thousand combos. The rows themselves are integers packed in
    one u64 key per (customer, family), sorted, and given their text as they stream out.
    """

    n: int  # families; code i is the i-th family name in sorted order
    families: pl.Series  # code -> name
    targets: tuple[int, ...]  # codes of the sellable families
    segments: int  # segment codes 0 .. segments - 1
    customers: pl.DataFrame  # acode (position in account_id order), account_id, account_name, s
    owned: pl.DataFrame  # acode, s, a (family code)
    prio: pl.Series  # ((s * n + a) * n + b) -> rank of a as evidence for b in s; n = no evidence
    combos: pl.DataFrame  # one row per combo = (s * n + b) * (n + 1) + rank, in combo order

    @staticmethod
    def build(model: Model, *, min_base: int, forced_pairs: pl.DataFrame | None) -> _Wide | None:
        ownership = model.ownership().collect()
        sellable = _sellable_items(model).collect()["family"]
        names = pl.concat([ownership["item"], sellable]).unique().sort()
        if names.len() > WIDE_LIMIT:
            return None
        n = names.len()
        codes = names.to_frame("item").with_row_index("a")
        segment = pl.col("segment").fill_null(_NO_SEGMENT)
        customers = (
            ownership.select(pl.col("account_id").unique().sort())
            .with_row_index("acode")
            .join(model.accounts.select("account_id", "account_name", "segment"), on="account_id", how="left")
            .with_columns(segment)
        )
        segments = customers.select(pl.col("segment").unique().sort()).with_row_index("s")
        customers = customers.join(segments, on="segment").sort("acode")
        owned = ownership.join(customers.select("account_id", "acode", "s"), on="account_id").join(codes, on="item")
        owned = owned.select("acode", "s", "a")
        targets = tuple(codes.join(sellable.to_frame("item"), on="item", how="semi")["a"].to_list())
        evidence = _wide_evidence(
            owned, n, targets, segments, min_base=min_base, forced=_forced_codes(forced_pairs, codes)
        )
        n_segments = segments.height
        prio = pl.repeat(n, n_segments * n * n, dtype=pl.UInt16, eager=True).scatter(
            evidence["cell"], evidence["rank"].cast(pl.UInt16)
        )
        typical = (
            _typical_value(model, customers.lazy().select("account_id", "segment"), ownership.lazy())
            .join(segments.lazy(), on="segment")
            .join(codes.lazy().select(pl.col("item").alias("family"), pl.col("a").alias("b")), on="family")
            .select("s", "b", "typical")
            .collect()
        )
        combos = _wide_combos(evidence, typical, segments, names, targets, n)
        return _Wide(n, names, targets, n_segments, customers, owned, prio, combos)

    def rows(self, *, accounts: pl.DataFrame | None, order: Order, top: int | None) -> pl.LazyFrame:
        n, combos = self.n, self.combos
        owned = self.owned
        if accounts is not None:
            listed = self.customers.join(accounts.select("account_id"), on="account_id", how="semi")
            owned = owned.join(listed.select("acode"), on="acode", how="semi")
        if owned.is_empty() or not self.targets:
            return pl.DataFrame(schema=_ROW_SCHEMA).lazy()
        bit = pl.Series([1 << k for k in range(n)], dtype=pl.UInt64)
        span = self.segments * n
        cell = pl.col("s").cast(pl.UInt32) * n + pl.col("a")
        ranks = {b: self.prio.gather(pl.int_range(0, span, eager=True) * n + b) for b in self.targets}
        # Each ownership row's evidence rank for every target, then the best per customer
        # (a plain min: a gather inside the aggregation runs row group by row group).
        per_customer = (
            owned.lazy()
            .with_columns(pl.lit(rank).gather(cell).alias(f"__p{b}") for b, rank in ranks.items())
            .group_by("acode")
            .agg(
                pl.col("s").first(),
                pl.lit(bit).gather(pl.col("a")).sum().alias("__mask"),
                *[pl.col(f"__p{b}").min() for b in self.targets],
            )
        )
        long = pl.concat(
            [
                per_customer.filter((pl.col("__mask") & bit[b]) == 0).select(
                    "acode",
                    pl.lit(b, dtype=pl.UInt32).alias("b"),
                    ((pl.col("s").cast(pl.UInt32) * n + b) * (n + 1) + pl.col(f"__p{b}")).alias("combo"),
                )
                for b in self.targets
            ]
        )
        # Account order: account, then the rank order within it (combos["in_account"]).
        accounts_n = self.customers.height
        c_bits, a_bits = _width(combos.height), _width(accounts_n)
        in_account = pl.lit(combos["in_account"]).gather(pl.col("combo")).cast(pl.UInt64)
        key = pl.col("acode").cast(pl.UInt64) * 2 ** (2 * c_bits) + in_account * 2**c_bits + pl.col("combo")
        if a_bits + 2 * c_bits > 63:  # pragma: no cover - beyond any family catalogue
            raise AssertionError("whitespace key does not fit 64 bits")
        by_account = long.select(key.alias("k")).sort("k").collect()["k"]
        acode = (by_account // 2 ** (2 * c_bits)).cast(pl.UInt32).alias("acode")
        combo = (by_account % 2**c_bits).cast(pl.UInt32)
        # rank = position within the account: the rows are grouped by account, in order.
        counts = acode.value_counts(sort=False, name="rows").sort("acode")
        first_row = counts["rows"].cum_sum() - counts["rows"]
        start = pl.repeat(0, accounts_n, dtype=pl.UInt32, eager=True).scatter(counts["acode"], first_row)
        rank = pl.int_range(0, acode.len(), eager=True, dtype=pl.UInt32) - start.gather(acode) + 1
        frame = pl.DataFrame({"acode": acode, "combo": combo, "rank": rank})
        if order == "value":
            r_bits = _width(n + 1)
            value = pl.lit(combos["by_value"]).gather(pl.col("combo")).cast(pl.UInt64)
            vkey = ((value * 2**a_bits + pl.col("acode")) * 2**c_bits + pl.col("combo")) * 2**r_bits + pl.col("rank")
            if c_bits + a_bits + c_bits + r_bits > 63:  # pragma: no cover
                raise AssertionError("whitespace key does not fit 64 bits")
            keys = frame.lazy().select(vkey.alias("k"))
            keys = keys.sort("k") if top is None else keys.bottom_k(top, by="k").sort("k")
            k = keys.collect()["k"]
            frame = pl.DataFrame(
                {
                    "acode": ((k // 2 ** (c_bits + r_bits)) % 2**a_bits).cast(pl.UInt32),
                    "combo": ((k // 2**r_bits) % 2**c_bits).cast(pl.UInt32),
                    "rank": (k % 2**r_bits).cast(pl.UInt32),
                }
            )
        elif top is not None:
            frame = frame.head(top)
        return frame.lazy().select(
            pl.lit(self.customers["account_id"]).gather(pl.col("acode")).alias("account_id"),
            pl.lit(self.customers["account_name"]).gather(pl.col("acode")).alias("account_name"),
            pl.lit(combos["family"]).gather(pl.col("combo")).alias("family"),
            pl.lit(combos["score"]).gather(pl.col("combo")).alias("score"),
            pl.lit(combos["expected_value"]).gather(pl.col("combo")).alias("expected_value"),
            pl.lit(combos["reason"]).gather(pl.col("combo")).alias("reason"),
            pl.col("rank").cast(pl.Int64),
        )


_ROW_SCHEMA = {
    "account_id": pl.String,
    "account_name": pl.String,
    "family": pl.String,
    "score": pl.Float64,
    "expected_value": pl.Float64,
    "reason": pl.String,
    "rank": pl.Int64,
}


def _forced_codes(forced_pairs: pl.DataFrame | None, codes: pl.DataFrame) -> pl.DataFrame:
    """(a, b) codes of the forced-bundle pairs: no evidence."""
    if forced_pairs is None or forced_pairs.is_empty():
        return pl.DataFrame(schema={"a": pl.UInt32, "b": pl.UInt32})
    return (
        forced_pairs.select("base_family", "family")
        .join(codes.rename({"item": "base_family"}), on="base_family")
        .join(codes.select(pl.col("item").alias("family"), pl.col("a").alias("b")), on="family")
        .select("a", "b")
    )


def _wide_evidence(
    owned: pl.DataFrame,
    n: int,
    targets: tuple[int, ...],
    segments: pl.DataFrame,
    *,
    min_base: int,
    forced: pl.DataFrame,
) -> pl.DataFrame:
    """s, a, b, rate, scope, rank (0 = the best base for b in s) and cell = (s*n + a)*n + b.

    rate(s, a -> b) = customers of s owning a and b / customers of s owning a when that base
    is at least min_base (and s is a real segment), else the same over all customers.
    """
    base = owned.group_by("s", "a").agg(pl.len().alias("n_seg"))
    base_all = owned.group_by("a").agg(pl.len().alias("n_all"))
    keyed = owned.select(pl.col("acode"), (pl.col("s").cast(pl.UInt32) * n + pl.col("a")).alias("i"))
    both = self_join_pairs(
        keyed,
        owned.select("acode", pl.col("a").alias("j")),
        group="acode",
        keep=(pl.col("i") % n) != pl.col("j"),
        aggregations=[pl.len().alias("both")],
    ).select((pl.col("i") // n).alias("s"), (pl.col("i") % n).alias("a"), pl.col("j").alias("b"), "both")
    both_all = both.group_by("a", "b").agg(pl.col("both").sum().alias("both_all"))
    named = segments.select("s", (pl.col("segment") != _NO_SEGMENT).alias("named"))
    grid = (
        base.join(pl.DataFrame({"b": list(targets)}, schema={"b": pl.UInt32}), how="cross")
        .filter(pl.col("a") != pl.col("b"))
        .join(forced, on=["a", "b"], how="anti")
        .join(
            both.with_columns(pl.col("s").cast(base.schema["s"]), pl.col("a").cast(pl.UInt32)),
            on=["s", "a", "b"],
            how="left",
        )
        .join(base_all, on="a", how="left")
        .join(both_all.with_columns(pl.col("a").cast(pl.UInt32)), on=["a", "b"], how="left")
        .join(named, on="s", how="left")
        .with_columns(pl.col("both").fill_null(0), pl.col("both_all").fill_null(0))
    )
    use_segment = (pl.col("n_seg") >= min_base) & pl.col("named")
    return (
        grid.select(
            "s",
            "a",
            "b",
            pl.when(use_segment)
            .then(ratio(pl.col("both"), pl.col("n_seg")))
            .otherwise(ratio(pl.col("both_all"), pl.col("n_all")))
            .alias("rate"),
            pl.when(use_segment).then(pl.lit("segment")).otherwise(pl.lit("all")).alias("scope"),
        )
        .sort(["s", "b", "rate", "a"], descending=[False, False, True, False], nulls_last=True)
        .with_columns(pl.int_range(pl.len()).over("s", "b").cast(pl.UInt32).alias("rank"))
        .with_columns(((pl.col("s").cast(pl.UInt32) * n + pl.col("a")) * n + pl.col("b")).alias("cell"))
    )


def _wide_combos(
    evidence: pl.DataFrame,
    typical: pl.DataFrame,
    segments: pl.DataFrame,
    names: pl.Series,
    targets: tuple[int, ...],
    n: int,
) -> pl.DataFrame:
    """Everything a row needs, per combo = (s * n + b) * (n + 1) + rank: family, score,
    expected_value, reason, and its place in the two orders (``in_account``: expected value,
    score, family; ``by_value``: expected value alone)."""
    size = segments.height * n * (n + 1)
    grid = (
        pl.DataFrame({"combo": pl.int_range(0, size, eager=True, dtype=pl.UInt32)})
        .with_columns(
            (pl.col("combo") // (n * (n + 1))).alias("s"),
            ((pl.col("combo") // (n + 1)) % n).alias("b"),
            (pl.col("combo") % (n + 1)).alias("rank"),
        )
        .join(
            evidence.select(
                pl.col("s").cast(pl.UInt32), pl.col("b").cast(pl.UInt32), pl.col("rank"), "a", "rate", "scope"
            ),
            on=["s", "b", "rank"],
            how="left",
            maintain_order="left",
        )
        .join(
            typical.select(pl.col("s").cast(pl.UInt32), pl.col("b").cast(pl.UInt32), "typical"),
            on=["s", "b"],
            how="left",
            maintain_order="left",
        )
        .join(segments.select(pl.col("s").cast(pl.UInt32), "segment"), on="s", how="left", maintain_order="left")
    )
    family = pl.lit(names).gather(pl.col("b"))
    base = pl.lit(names).gather(pl.col("a"))
    score = pl.col("rate").fill_null(0.0)
    percent = (score * 100).round(0).cast(pl.Int64).cast(pl.String)
    scope = pl.when(pl.col("scope") == "segment").then(fmt(" in {}", pl.col("segment"))).otherwise(pl.lit(""))
    reason = pl.concat_str(
        [
            pl.lit("owns "),
            base,
            pl.lit("; "),
            percent,
            pl.lit("% of "),
            base,
            pl.lit(" customers"),
            scope,
            pl.lit(" also own "),
            family,
        ]
    )
    combos = grid.select(
        "combo",
        family.alias("family"),
        score.alias("score"),
        (score * pl.col("typical")).alias("expected_value"),
        pl.when(pl.col("rate").is_not_null()).then(reason).alias("reason"),
    )
    in_account = (
        combos.select(
            pl.arg_sort_by(["expected_value", "score", "family"], descending=[True, True, False], nulls_last=True)
        )
        .to_series()
        .arg_sort()
    )
    by_value = combos.select(pl.col("expected_value").rank("dense", descending=True).fill_null(pl.len())).to_series()
    return combos.with_columns(
        in_account.cast(pl.UInt32).alias("in_account"), by_value.cast(pl.UInt32).alias("by_value")
    )
