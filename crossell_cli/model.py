"""Derived facts every metric shares (SPEC §2), as lazy Polars plans.

- the as-of date T (default: the latest booked_at/start_date of a closed line)
- ``item``: the product's family (default) or the product itself (``--level product``)
- won lines: stage won (or no stage column), booked on or before T
- active at T: start_date <= T < end_date (an empty end_date never ends)
- ownership at T: distinct (account, item) with an active won line
- land: the account's first won booking; the land bundle is everything booked on that
  day or on a contract booked that day
- each won line's kind: ``new`` (land bundle), ``cross_sell`` (booked on the day of the
  account's first-ever purchase of that item, outside the land bundle) or ``upsell``
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import polars as pl

from .config import Level
from .errors import UsageError
from .load import Book

WON = "won"


def is_won() -> pl.Expr:
    return pl.col("stage").is_null() | (pl.col("stage") == WON)


def is_closed() -> pl.Expr:
    return pl.col("stage").is_null() | pl.col("stage").is_in([WON, "lost"])


def default_as_of(line_items: pl.DataFrame) -> dt.date | None:
    """The latest booked_at or start_date among closed (won or lost) lines.

    Open pipeline rows carry expected close dates in the future, so they never move T.
    """
    closed = line_items.lazy().filter(is_closed())
    value = closed.select(pl.max_horizontal(pl.col("booked_at").max(), pl.col("start_date").max())).collect()
    result = value.item()
    return result if isinstance(result, dt.date) else None


def active_at(at: dt.date | pl.Expr) -> pl.Expr:
    when = pl.lit(at) if isinstance(at, dt.date) else at
    return (pl.col("start_date") <= when) & (pl.col("end_date").is_null() | (when < pl.col("end_date")))


def apply_where(book: Book, where: Sequence[tuple[str, str]]) -> Book:
    """Keep the accounts matching every --where column (any of the values given for one column)."""
    if not where:
        return book
    accounts = book.accounts
    by_column: dict[str, list[str]] = {}
    for column, value in where:
        by_column.setdefault(column, []).append(value)
    condition = pl.lit(True)
    for column, values in by_column.items():
        if column not in accounts.columns:
            usable = ", ".join(c for c in accounts.columns if accounts[c].null_count() < accounts.height)
            raise UsageError(
                f"--where {column}=…: accounts have no column '{column}'",
                hint=f"columns you can filter on: {usable}",
            )
        if accounts.height and accounts[column].null_count() == accounts.height:
            raise UsageError(
                f"--where {column}=…: no account has a {column}",
                hint="give an accounts table with that column, or map it with columns.accounts",
            )
        wanted = [v.lower() for v in values]
        condition = condition & pl.col(column).cast(pl.String).str.to_lowercase().is_in(wanted)
    kept = accounts.filter(condition)
    lines = book.line_items.join(kept.select("account_id"), on="account_id", how="semi", maintain_order="left")
    return replace(book, accounts=kept, line_items=lines)


def with_items(line_items: pl.DataFrame, products: pl.DataFrame, level: Level) -> pl.DataFrame:
    """Add ``item``: the family of the line's product, or the product itself.

    A bundle component (CPQ's SBQQ__Bundled__c) takes the item of the line it belongs to:
    it was sold as part of that product, so it never shows up as a family of its own (and
    never as a cross-sell). Only the new column is computed; the others are shared.
    """
    if level == "product":
        item = line_items["product_id"]
    else:
        item = line_items.select(
            pl.col("product_id").replace_strict(
                products["product_id"], products["family"], default=pl.col("product_id")
            )
        ).to_series()
    lines = line_items.with_columns(item.alias("item"))
    if not lines["bundled"].fill_null(False).any():
        return lines
    parents = lines.select(pl.col("line_id").alias("parent_line_id"), pl.col("item").alias("__parent_item"))
    parent_item = lines.select("parent_line_id").join(parents, on="parent_line_id", how="left", maintain_order="left")
    return lines.with_columns(
        pl.when(pl.col("bundled").fill_null(False) & parent_item["__parent_item"].is_not_null())
        .then(parent_item["__parent_item"])
        .otherwise(pl.col("item"))
        .alias("item")
    )


def item_universe(won: pl.LazyFrame, products: pl.DataFrame | None, level: Level) -> pl.LazyFrame:
    """Every item bought (on or before T) plus every item of the catalogue, if one was given."""
    if products is None:
        return won.select("item").unique()
    catalogue = products.lazy().select(pl.col("product_id" if level == "product" else "family").alias("item"))
    return pl.concat([won.select("item"), catalogue]).unique()


@dataclass(frozen=True)
class Model:
    """The shared facts. Build with ``build_model``.

    ``frame`` is the book's line items with ``item``, shared with the book, not copied;
    ``lines`` and ``won`` are lazy filters of it, so each metric's plan reads only the
    columns it needs. What several metrics need (ownership at T, each line's kind) is
    computed once per run and kept.
    """

    as_of: dt.date
    level: Level
    frame: pl.DataFrame  # every line of the book (any date, any stage), with item
    products: pl.DataFrame
    accounts: pl.DataFrame
    catalogue: pl.DataFrame | None  # the products table when the user gave one
    dateless: bool = False  # a wide export: ownership without dates, deals or amounts
    _cache: dict[str, pl.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @property
    def lines(self) -> pl.LazyFrame:
        """Every line (any stage) booked on or before T, with item."""
        return self.frame.lazy().filter(pl.col("booked_at") <= self.as_of)

    @property
    def won(self) -> pl.LazyFrame:
        """Won lines booked on or before T, with item."""
        return self.lines.filter(is_won())

    def items(self) -> pl.DataFrame:
        """item, owners (customers owning it at T): every item bought on or before T or in the catalogue."""
        owners = self.ownership().group_by("item").agg(pl.len().alias("owners"))
        return (
            item_universe(self.won, self.catalogue, self.level)
            .join(owners, on="item", how="left")
            .with_columns(pl.col("owners").fill_null(0))
            .sort("item")
            .collect()
        )

    def has_end_dates(self) -> bool:
        """True when some won line (booked on or before T) has an end date: ARR mode's data."""
        return bool(self.won.select(pl.col("end_date").is_not_null().any()).collect().item())

    def ownership(self, at: dt.date | None = None) -> pl.LazyFrame:
        """Distinct (account_id, item) owned at ``at`` (default T)."""
        when = at or self.as_of
        plan = self.won.filter(active_at(when)).select("account_id", "item").unique()
        if when != self.as_of:
            return plan
        if "ownership" not in self._cache:
            self._cache["ownership"] = plan.collect()
        return self._cache["ownership"].lazy()

    def first_purchases(self) -> pl.LazyFrame:
        """Per (account, item): first_date and first_contract (smallest contract that day)."""
        # The first line by (day, contract), nulls last: its contract is the smallest of the
        # first day's (empty only when none of them has one).
        first = pl.col("contract_id").sort_by("booked_at", "contract_id", nulls_last=True).first()
        return self.won.group_by("account_id", "item").agg(
            pl.col("booked_at").min().alias("first_date"), first.alias("first_contract")
        )

    def land(self) -> pl.LazyFrame:
        """Per account: land_date."""
        return self.won.group_by("account_id").agg(pl.col("booked_at").min().alias("land_date"))

    def classified(self) -> pl.LazyFrame:
        """Won lines with land_date, in_land_bundle, first_date (of the item) and kind.

        The four columns are computed once per run for every line of the book (empty on
        lines that are not won by T) and set beside the shared columns, so a metric that
        filters the classified lines copies only what it reads.
        """
        if "classified" not in self._cache:
            positions = self.frame.lazy().with_row_index("__pos").filter(pl.col("booked_at") <= self.as_of)
            derived = _classify(positions.filter(is_won())).select("__pos", *_DERIVED).collect()
            full = self.frame.select(
                pl.repeat(None, self.frame.height, dtype=derived.schema[c]).alias(c) for c in _DERIVED
            )
            index = derived["__pos"]
            self._cache["classified"] = self.frame.with_columns(full[c].scatter(index, derived[c]) for c in _DERIVED)
        return self._cache["classified"].lazy().filter((pl.col("booked_at") <= self.as_of) & is_won())


_DERIVED = ("land_date", "in_land_bundle", "first_date", "kind")


def _classify(won: pl.LazyFrame) -> pl.LazyFrame:
    """SPEC §2's classification of won lines: new (the land bundle), cross_sell (the day of
    the account's first purchase of the item, outside the land bundle) or upsell."""
    land = won.group_by("account_id").agg(pl.col("booked_at").min().alias("land_date"))
    won = won.join(land, on="account_id", how="left")
    land_contracts = (
        won.filter((pl.col("booked_at") == pl.col("land_date")) & pl.col("contract_id").is_not_null())
        .select("account_id", "contract_id")
        .unique()
        .with_columns(pl.lit(True).alias("__land_contract"))
    )
    won = won.join(land_contracts, on=["account_id", "contract_id"], how="left").with_columns(
        ((pl.col("booked_at") == pl.col("land_date")) | pl.col("__land_contract").fill_null(False)).alias(
            "in_land_bundle"
        )
    )
    land_items = (
        won.filter(pl.col("in_land_bundle"))
        .select("account_id", "item")
        .unique()
        .with_columns(pl.lit(True).alias("__land_item"))
    )
    firsts = won.group_by("account_id", "item").agg(pl.col("booked_at").min().alias("first_date"))
    return (
        won.join(land_items, on=["account_id", "item"], how="left")
        .join(firsts, on=["account_id", "item"], how="left")
        .with_columns(
            pl.when(pl.col("in_land_bundle"))
            .then(pl.lit("new"))
            .when(pl.col("__land_item").fill_null(False))
            .then(pl.lit("upsell"))
            .when(pl.col("booked_at") == pl.col("first_date"))
            .then(pl.lit("cross_sell"))
            .otherwise(pl.lit("upsell"))
            .alias("kind")
        )
        .drop("__land_contract", "__land_item")
    )


def build_model(
    book: Book, *, as_of: dt.date | None, level: Level, where: Sequence[tuple[str, str]] = ()
) -> Model | None:
    """The model at T, or None when the book has no dated closed line to take T from.

    T defaults to the whole export's latest date, before any --where filter, so that
    a filtered run answers "as of" the same day as the unfiltered one.
    """
    when = as_of or default_as_of(book.line_items)
    if when is None:
        return None
    book = apply_where(book, where)
    return Model(
        as_of=when,
        level=level,
        frame=with_items(book.line_items, book.products, level),
        products=book.products,
        accounts=book.accounts,
        catalogue=book.products if "products" in book.given else None,
        dateless=book.dateless,
    )
