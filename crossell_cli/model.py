"""The facts every metric shares (SPEC §2), built once per run as lazy frames.

- the as-of date T: given, or the latest booked_at / start_date of a closed (won or lost)
  line of the whole book; it rides on every line as the column ``as_of`` (a plan cannot
  hold a value it has not computed yet, and a column costs nothing on a constant);
- ``item``: the product's family (default) or the product itself (``--level product``);
- ``lines``: the used lines booked on or before T (``--where`` applied), any stage (the won
  ones alone, without their stage, in the facts of a command that reads no other:
  ``won_only``);
- ``won``: those with stage won (or no stage column);
- ``ownership``: distinct (account, item) with a won line active at T
  (start_date <= T < end_date, an empty end_date never ends);
- ``owned``: the ownership with each pair's first booking day and its contract;
- ``land``: the account's first won booking; the land bundle is everything booked that
  day or on a contract booked that day;
- ``classified``: each won line's kind: ``new`` (land bundle), ``cross_sell`` (booked on
  the day of the account's first-ever purchase of that item, outside the land bundle) or
  ``upsell``;
- ``item_history``: per (account, item), its first and last booking, its first start, whether
  it came in the land bundle, its last end date and whether it is held at T; grouped once,
  and read by the classification, the timing, the flags, the summary, and (once in memory)
  the ownership and ``land``;
- ``cross_sell_lines``: the lines ``classified`` calls cross_sell, read off the histories
  (a family's first day's lines when none of its lines came in the land bundle) unless the
  classification is made; ``classified_of(accounts)``: the kinds of some accounts' lines
  alone. The flags and the summary read these, so only the commands that read every kind
  (the bookings bridge, the report) classify every line.

Each fact is a LazyFrame built once (``cached_property``) and shared by every metric that
needs it. Over a scan (``xsell validate``, tests) the facts stay plans. Over lines already
read into memory (``in_memory``, what ``Session.facts`` builds) the facts that several
metrics share (ownership, owned, the item histories, the classification) are computed once, the first
time a metric asks, and handed out as frames in memory: a command's plan then holds each of
them once instead of re-deriving it under every metric that reads it (Polars 2.1 shares a
repeated subplan only at the top of a plan, not one nested inside another).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from .config import Level
from .ingest import Book, accounts_from_lines
from .ingest.read import ROW

WON = "won"
AS_OF = "as_of"


def is_won() -> pl.Expr:
    return pl.col("stage").is_null() | (pl.col("stage") == WON)


def is_closed() -> pl.Expr:
    return pl.col("stage").is_null() | pl.col("stage").is_in([WON, "lost"])


def as_of() -> pl.Expr:
    """T, as carried by every fact."""
    return pl.col(AS_OF)


def latest_closed_date() -> pl.Expr:
    """The latest booked_at or start_date among closed (won or lost) lines.

    Open pipeline rows carry expected close dates in the future, so they never move T.
    """
    closed = is_closed()
    return pl.max_horizontal(pl.col("booked_at").filter(closed).max(), pl.col("start_date").filter(closed).max())


def active_at(at: dt.date | pl.Expr) -> pl.Expr:
    when = pl.lit(at) if isinstance(at, dt.date) else at
    return (pl.col("start_date") <= when) & (pl.col("end_date").is_null() | (when < pl.col("end_date")))


def where_condition(where: Sequence[tuple[str, str]]) -> pl.Expr:
    """Accounts matching every --where column (any of the values given for one column), any case."""
    by_column: dict[str, list[str]] = {}
    for column, value in where:
        by_column.setdefault(column, []).append(value.lower())
    condition = pl.lit(True)
    for column, values in by_column.items():
        condition = condition & pl.col(column).cast(pl.String).str.to_lowercase().is_in(values)
    return condition


@dataclass(frozen=True)
class Model:
    """The shared facts at T; build with ``build_model``. See the module docstring."""

    level: Level
    all_lines: pl.LazyFrame  # every used line of the book, any date and stage, with item and as_of
    accounts: pl.LazyFrame  # every account (attributes read off the lines when there is no accounts file)
    products: pl.LazyFrame
    catalogue: pl.LazyFrame | None  # the products table when the user gave one
    listed: pl.LazyFrame  # account_id of the accounts --where keeps (all accounts without --where)
    where: tuple[tuple[str, str], ...] = ()
    dateless: bool = False  # a wide export: ownership without dates, deals or amounts
    has_stage: bool = False  # the export says won / lost / open
    known_as_of: dt.date | None = None  # T when it is already known (a model over collected lines)
    in_memory: bool = False  # all_lines is a frame in memory: shared facts are computed once, when first used
    won_only: bool = False  # all_lines holds the won lines alone, without their stage (facts read for a command
    # that reads no lost or open line: every one but the summary)

    def shared(self, plan: pl.LazyFrame) -> pl.LazyFrame:
        """A fact several metrics read: computed now when the lines are in memory, else a plan."""
        return plan.collect(engine="streaming").lazy() if self.in_memory else plan

    @cached_property
    def as_of_frame(self) -> pl.LazyFrame:
        """One row: as_of (null when the book has no dated closed line: nothing to measure)."""
        if self.known_as_of is not None:
            return pl.LazyFrame({AS_OF: [self.known_as_of]}, schema={AS_OF: pl.Date})
        return self.all_lines.select(pl.col(AS_OF).first())

    @cached_property
    def book_lines(self) -> pl.LazyFrame:
        """Every line (any stage) of the --where accounts, any date, with item and as_of."""
        if not self.where:
            return self.all_lines
        return self.all_lines.join(self.listed, on="account_id", how="semi")

    @cached_property
    def lines(self) -> pl.LazyFrame:
        """Every line (any stage) of the --where accounts booked on or before T."""
        return self.book_lines.filter(pl.col("booked_at") <= as_of())

    @cached_property
    def won(self) -> pl.LazyFrame:
        """Won lines booked on or before T (without the stage, which then says nothing: the
        classification and the other facts held in memory would carry it on every line, a
        sixth of a GB at 10 M lines)."""
        if self.won_only:
            return self.lines
        return self.lines.filter(is_won()).drop("stage", strict=False)

    @cached_property
    def ownership(self) -> pl.LazyFrame:
        """Distinct (account_id, item) owned at T: read off the item histories when they are
        in memory already (the summary, the report: a filter of the histories rather than a
        distinct of every won line, 0.15 s at 300 k accounts), else from the won lines."""
        if self.in_memory and self._histories_made:
            return self.shared(self.item_history.filter(pl.col("held_at_t")).select("account_id", "item"))
        return self.shared(_owned_at_t(self.won))

    @property
    def classification_made(self) -> bool:
        """Whether the lines are classified already (``classified`` was asked for): what reads
        kinds then filters the classification rather than classify or join anything."""
        return "_classification" in self.__dict__

    @property
    def _histories_made(self) -> bool:
        return "item_history" in self.__dict__ or "_classification" in self.__dict__

    def ownership_of(self, accounts: pl.LazyFrame) -> pl.LazyFrame:
        """``ownership`` of the ``accounts`` (account_id) only: one account's, from its own lines."""
        return _owned_at_t(self.won.join(accounts, on="account_id", how="semi"))

    @cached_property
    def owned(self) -> pl.LazyFrame:
        """``ownership`` with each pair's first_date and first_contract (smallest contract of the
        first day): what attach pairs up, in one pass over the won lines."""
        # The first line by (day, contract), nulls last: its contract is the smallest of the
        # first day's (empty only when none of them has one).
        first = pl.col("contract_id").sort_by("booked_at", "contract_id", nulls_last=True).first()
        return self.shared(
            self.won.group_by("account_id", "item")
            .agg(
                pl.col("booked_at").min().alias("first_date"),
                first.alias("first_contract"),
                active_at(as_of()).any().alias("__owned"),
            )
            .filter(pl.col("__owned"))
            .drop("__owned")
        )

    @cached_property
    def land(self) -> pl.LazyFrame:
        """Per account: land_date and as_of (from the item histories, a third of the lines)."""
        return self.shared(
            self.item_history.group_by("account_id").agg(pl.col("land_date").first(), pl.col(AS_OF).first())
        )

    @cached_property
    def classified(self) -> pl.LazyFrame:
        """Won lines with land_date, in_land_bundle, first_date (of the item) and kind."""
        return self._classification[0]

    @cached_property
    def item_history(self) -> pl.LazyFrame:
        """Per (account_id, item) bought by T: as_of, first_date and last_date (its first and
        last booking), first_start, land_date, landed_with (bought in the land bundle),
        last_end (the latest end date),
        all_ended (every line has one) and held_at_t (a line of it is active at T: owned).
        Read by the classification, the cross-sell lines (the flags, the summary), the
        cross-sell timing and the ownership alike, and grouped once: with the classification when that is made first,
        else alone (the timing needs no line's kind: the join back and the classified lines
        in memory are not made for it)."""
        if "_classification" in self.__dict__:
            return self._classification[1]
        history = _item_history(_land_bundles(self.won))
        # (an explicit cache over a plan of the export: one ``collect_all`` groups the lines once)
        return self.shared(history) if self.in_memory else history.cache()

    @cached_property
    def _classification(self) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """(classified, item_history) from one computation of the land bundles; over lines
        in memory, both in one collect (the bundles are not held beside the classified lines:
        with every column of the line, that doubled the memory of ``xsell expansion``)."""
        bundled = _land_bundles(self.won).cache()
        known = "item_history" in self.__dict__
        history = self.item_history if known else _item_history(bundled).cache()
        classified = _classify(bundled, history)
        if not self.in_memory:
            return classified, history
        if known:
            return classified.collect(engine="streaming").lazy(), history
        got = pl.collect_all([classified, history], engine="streaming")
        return got[0].lazy(), got[1].lazy()

    @cached_property
    def cross_sell_lines(self) -> pl.LazyFrame:
        """The won lines ``classified`` calls cross_sell, with its columns: each family's first
        day's lines when none of its lines is in the land bundle (SPEC §2). A filter of the
        classification when that is made; otherwise the won lines joined with those families'
        first days in the item histories, and no line is classified (the flags read no other
        kind: classifying every won line cost `xsell flags` 0.9 s at 300 k accounts)."""
        if self.classification_made:
            return self.classified.filter(pl.col("kind") == "cross_sell")
        return self.shared(
            self.won.join(
                self.cross_sell_days.drop(AS_OF), on=["account_id", "item", "booked_at"], how="inner"
            ).with_columns(
                pl.lit(False).alias("in_land_bundle"),
                pl.col("booked_at").alias("first_date"),
                pl.lit("cross_sell").alias("kind"),
            )
        )

    @property
    def cross_sell_days(self) -> pl.LazyFrame:
        """(account_id, item, as_of, booked_at, land_date): the day each family was cross-sold, its
        first day when none of its lines came in the land bundle (SPEC §2): every line of it
        booked that day is a cross-sell line, and no other line is."""
        return self.item_history.filter(~pl.col("landed_with")).select(
            "account_id", "item", AS_OF, pl.col("first_date").alias("booked_at"), "land_date"
        )

    def classified_of(self, accounts: pl.LazyFrame) -> pl.LazyFrame:
        """``classified`` for the won lines of ``accounts`` (account_id) only: a line's kind
        reads its own account's lines alone (its land day and bundle, its item's first day),
        so classifying those accounts' lines gives their lines the kinds the whole book gives
        them: a plan over those accounts' lines, never the whole book's classification (the
        pass-through flag of `xsell expansion` reads the kinds of a few deep-discount lines:
        classifying every line held them all in memory, 0.9 s at 300 k accounts)."""
        bundled = _land_bundles(self.won.join(accounts, on="account_id", how="semi")).cache()
        return _classify(bundled, _item_history(bundled))

    @cached_property
    def items(self) -> pl.LazyFrame:
        """item, owners (customers owning it at T): every item bought by T, or in the catalogue."""
        owners = self.ownership.group_by("item").agg(pl.len().alias("owners"))
        return (
            item_universe(self.won, self.catalogue, self.level)
            .join(owners, on="item", how="left")
            .with_columns(pl.col("owners").fill_null(0))
            .sort("item")
        )

    @cached_property
    def has_end_dates(self) -> pl.LazyFrame:
        """One row: end_dates, true when some won line (booked by T) has an end date (ARR mode's data)."""
        return self.won.select(pl.col("end_date").is_not_null().any().alias("end_dates"))

    def end_dates_known(self) -> bool | None:
        """``has_end_dates`` before any plan is built, when the lines are in memory (a scan of
        one column): a command then builds the ARR or the bookings side, not both; None when
        it would read the export."""
        if not self.in_memory:
            return None
        return bool(self.has_end_dates.collect().item())

    @cached_property
    def customers(self) -> pl.LazyFrame:
        """account_id of the customers at T (owning at least one item)."""
        return self.ownership.select("account_id").unique()


def _owned_at_t(won: pl.LazyFrame) -> pl.LazyFrame:
    return won.filter(active_at(as_of())).select("account_id", "item").unique()


def _land_bundles(won: pl.LazyFrame) -> pl.LazyFrame:
    """``won`` with land_date (the account's first won day) and in_land_bundle: booked on the
    land date, or on a contract that has a line booked on it."""
    land = won.group_by("account_id").agg(pl.col("booked_at").min().alias("land_date"))
    won = won.join(land, on="account_id", how="left")
    land_contracts = (
        won.filter((pl.col("booked_at") == pl.col("land_date")) & pl.col("contract_id").is_not_null())
        .select("account_id", "contract_id")
        .unique()
        .with_columns(pl.lit(True).alias("__land_contract"))
    )
    return (
        won.join(land_contracts, on=["account_id", "contract_id"], how="left")
        .with_columns(
            ((pl.col("booked_at") == pl.col("land_date")) | pl.col("__land_contract").fill_null(False)).alias(
                "in_land_bundle"
            )
        )
        .drop("__land_contract")
    )


def _item_history(bundled: pl.LazyFrame) -> pl.LazyFrame:
    """``Model.item_history`` of the won lines with their land bundle (``_land_bundles``)."""
    return bundled.group_by("account_id", "item").agg(
        pl.col(AS_OF).first(),
        pl.col("booked_at").min().alias("first_date"),
        pl.col("booked_at").max().alias("last_date"),
        pl.col("start_date").min().alias("first_start"),
        pl.col("land_date").first(),
        pl.col("in_land_bundle").any().alias("landed_with"),
        pl.col("end_date").max().alias("last_end"),
        pl.col("end_date").is_not_null().all().alias("all_ended"),
        active_at(as_of()).any().alias("held_at_t"),
    )


def _classify(bundled: pl.LazyFrame, history: pl.LazyFrame) -> pl.LazyFrame:
    """SPEC §2's classification of won lines (``bundled``, with their land bundle): new (the
    land bundle), cross_sell (the day of the account's first purchase of the item, outside
    the land bundle) or upsell. ``history``: the (account, item) histories, whose
    first_date and landed_with decide the other two (one grouping, shared with the timing
    and the flags, joined back once)."""
    per_item = history.select("account_id", "item", "first_date", pl.col("landed_with").alias("__land_item"))
    return (
        bundled.join(per_item, on=["account_id", "item"], how="left")
        .with_columns(
            pl.when(pl.col("in_land_bundle"))
            .then(pl.lit("new"))
            .when(pl.col("__land_item"))
            .then(pl.lit("upsell"))
            .when(pl.col("booked_at") == pl.col("first_date"))
            .then(pl.lit("cross_sell"))
            .otherwise(pl.lit("upsell"))
            .alias("kind")
        )
        .drop("__land_item")
    )


def item_universe(won: pl.LazyFrame, catalogue: pl.LazyFrame | None, level: Level) -> pl.LazyFrame:
    """Every item bought (on or before T) plus every item of the catalogue, if one was given."""
    if catalogue is None:
        return won.select("item").unique()
    items = catalogue.select(pl.col("product_id" if level == "product" else "family").alias("item"))
    return pl.concat([won.select("item"), items]).unique()


def with_items(lines: pl.LazyFrame, products: pl.LazyFrame, level: Level, *, bundled: bool) -> pl.LazyFrame:
    """Add ``item``: the family of the line's product, or the product itself.

    A bundle component (CPQ's SBQQ__Bundled__c) takes the item of the line it belongs to:
    it was sold as part of that product, so it never shows up as a family of its own (and
    never as a cross-sell).
    """
    if level == "product":
        lines = lines.with_columns(pl.col("product_id").alias("item"))
    else:
        families = products.select("product_id", pl.col("family").alias("__family"))
        lines = (
            lines.join(families, on="product_id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("__family", "product_id").alias("item"))
            .drop("__family")
        )
    if not bundled:
        return lines
    parents = lines.select(pl.col("line_id").alias("parent_line_id"), pl.col("item").alias("__parent_item"))
    return (
        lines.join(parents, on="parent_line_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("bundled").fill_null(False) & pl.col("__parent_item").is_not_null())
            .then(pl.col("__parent_item"))
            .otherwise(pl.col("item"))
            .alias("item")
        )
        .drop("__parent_item")
    )


def book_as_of(lines: pl.LazyFrame, as_of: dt.date | None) -> pl.LazyFrame:
    """One row, as_of: ``build_model``'s T over the book's ``lines`` as read (before their items
    are joined on, which adds no date): for a reader that needs T alone (``xsell validate``).
    Inside a model, ``Model.as_of_frame`` is cheaper: it shares the lines' plan."""
    return lines.select(_t(as_of).alias(AS_OF))


def _t(as_of: dt.date | None) -> pl.Expr:
    """T: the date given, else the latest closed line's date."""
    return pl.lit(as_of, dtype=pl.Date) if as_of is not None else latest_closed_date()


def build_model(book: Book, *, as_of: dt.date | None, level: Level, where: Sequence[tuple[str, str]] = ()) -> Model:
    """The shared facts at T (given, or the book's latest closed date, before any --where filter,
    so that a filtered run answers "as of" the same day as the unfiltered one)."""
    t = _t(as_of)
    lines = with_items(book.line_items, book.products, level, bundled="bundled" in book.present)
    lines = lines.with_columns(t.alias(AS_OF))
    accounts = book.accounts if book.accounts is not None else accounts_from_lines(book.line_items, as_of=t)
    listed = accounts.filter(where_condition(where)).select("account_id") if where else accounts.select("account_id")
    return Model(
        level=level,
        all_lines=lines,
        accounts=accounts,
        products=book.products,
        catalogue=book.products if "products" in book.given else None,
        listed=listed,
        where=tuple(where),
        dateless=book.dateless,
        has_stage="stage" in book.present,
    )


# The line columns each kind of work reads (what a command collects from the scan).
CORE_COLUMNS = ("account_id", "item", "booked_at", "start_date", "end_date", "contract_id", "stage", AS_OF)
MONEY_COLUMNS = (*CORE_COLUMNS, "amount")
# (retention: what was held on a day and for how much; no contract, no deal)
ARR_COLUMNS = ("account_id", "item", "booked_at", "start_date", "end_date", "stage", AS_OF, "amount")
ALL_COLUMNS = (
    *MONEY_COLUMNS,
    "line_id",
    "product_id",
    "list_amount",
    "discount",
    "quantity",
    "rep",
    ROW,
)


__all__ = [
    "ALL_COLUMNS",
    "ARR_COLUMNS",
    "AS_OF",
    "CORE_COLUMNS",
    "MONEY_COLUMNS",
    "ROW",
    "Model",
    "active_at",
    "as_of",
    "book_as_of",
    "build_model",
    "is_closed",
    "is_won",
    "item_universe",
    "latest_closed_date",
    "where_condition",
    "with_items",
]
