"""Won revenue per period, split into new / cross-sell / upsell (and, with end dates, the ARR movements).

Bookings mode (no end dates): every won line booked in a period is ``new`` (land
bundle), ``cross_sell`` (booked on the day of the account's first-ever purchase of that
family, outside the land bundle) or ``upsell``; the amounts are summed. The ARR-only
columns (reactivation, contraction, churn) are empty.

ARR mode (end dates): ARR(a, f, d) is the sum of the amounts of family f's lines active
on day d. Snapshots are taken on each period's closing day (the last period closes on T;
the first is compared with the day before it starts). Between two snapshots, per account:
total 0 -> >0 is ``new`` (no earlier snapshot had ARR) or ``reactivation``; >0 -> 0 is
``churn`` (minus the whole previous ARR); otherwise per family 0 -> >0 is ``cross_sell``
if the family never had ARR at an earlier snapshot, else ``upsell``; up is ``upsell``;
down is ``contraction``. Per account and period,
ARR_end − ARR_start = new + reactivation + cross_sell + upsell + contraction + churn.
Tiers of one family net out inside the family, so a plan switch is upsell or
contraction, never churn + new.

Both: ``expansion = cross_sell + upsell``; ``cross_sell_share = cross_sell / expansion``
(empty when 0). Cross-sells flagged as pass-through (a price cut booked as attach) are
moved out of ``cross_sell`` into ``cross_sell_pass_through`` so they do not inflate it; in
ARR mode the movements then reconcile with that column included. Grain: one row per
period (and group), every period from the first to the one holding T.

ARR mode also gives the bridge: ``opening_arr`` (ARR on the previous period's closing
day) and ``closing_arr`` (on this one's), so that opening_arr + new + reactivation +
cross_sell + upsell + contraction + churn + cross_sell_pass_through = closing_arr, per
period and per group. Both are running totals of exact micro-units. They are empty in
bookings mode, and with ``--by rep``: a family's ARR belongs to the rep of its latest
line, so it changes hands when another rep books a line, and that hand-over is no
movement; a rep's opening plus its movements would not make its closing.

``arr_added`` counts the same movements day by day: coarser snapshots net out what rises
and falls inside a period, so the period table's totals depend on --period; the daily
count does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import polars as pl

from ..model import Model, as_of
from ..runs import had_before, running
from .periods import Calendar
from .stats import from_money_units, money_add, money_sum, money_units, ratio

Mode = Literal["bookings", "arr"]
GroupBy = Literal["rep", "segment", "family", "region"]
MOVEMENTS = ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn")
COLUMNS = (
    "period",
    "period_start",
    *MOVEMENTS,
    "expansion",
    "cross_sell_share",
    "cross_sell_pass_through",
    "opening_arr",
    "closing_arr",
)
# ARR below this is float residue of adding and removing the same amounts, not revenue.
_EPS = 1e-6
NO_GROUP = "(none)"


def modes_to_build(mode: str, end_dates: bool | None) -> tuple[Mode, ...]:
    """The modes a command builds: the one asked for; under auto the one the data choose (arr
    when a won line has an end date) when that is known before the plan (``Model.end_dates_known``),
    else both, and the data choose after the collect. On a bookings export the ARR bridge and
    its day-by-day count were computed for nothing (two sorts of every line)."""
    if mode != "auto":
        return (cast("Mode", mode),)
    if end_dates is None:
        return ("bookings", "arr")
    return ("arr",) if end_dates else ("bookings",)


def expansion(
    model: Model,
    *,
    mode: Mode,
    calendar: Calendar,
    by: GroupBy | None = None,
    pass_through_lines: pl.LazyFrame | None = None,
    days: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Movements per period (and group); see the module docstring.

    ``pass_through_lines`` (line_id, account_id, item): cross-sell lines flagged as
    pass-through; their cross-sell moves to ``cross_sell_pass_through``. ``days``: the ARR
    mode's ``arr_days`` with this calendar, when the caller shares it with ``arr_added``.
    """
    if mode == "bookings":
        movements = _bookings(model, calendar, by, pass_through_lines)
    else:
        movements = _arr(model, calendar, by, pass_through_lines, days)
    return _finish(movements, model, calendar, by, mode)


def _group_keys(by: GroupBy | None) -> list[str]:
    return [] if by is None else [by]


def _with_group(frame: pl.LazyFrame, model: Model, by: GroupBy | None) -> pl.LazyFrame:
    """Add the --by column; a missing value becomes '(none)' so its revenue is not lost."""
    if by in ("segment", "region"):
        attrs = model.accounts.select("account_id", by)
        frame = frame.join(attrs, on="account_id", how="left")
    elif by == "family":
        frame = frame.with_columns(pl.col("item").alias("family"))
    if by is None:
        return frame
    return frame.with_columns(pl.col(by).fill_null(NO_GROUP))


def _bookings(model: Model, calendar: Calendar, by: GroupBy | None, pass_through: pl.LazyFrame | None) -> pl.LazyFrame:
    lines = model.classified.with_columns(calendar.index_expr(pl.col("booked_at")).alias("period_index"))
    lines = _with_group(lines, model, by)
    kind = pl.col("kind")
    if pass_through is not None:
        flagged = pass_through.select("line_id").unique().with_columns(pl.lit(True).alias("__pt"))
        lines = lines.join(flagged, on="line_id", how="left").with_columns(
            pl.when((kind == "cross_sell") & pl.col("__pt").fill_null(False))
            .then(pl.lit("cross_sell_pass_through"))
            .otherwise(kind)
            .alias("kind")
        )
    keys = ["period_index", *_group_keys(by)]
    return lines.group_by(keys).agg(
        money_sum(pl.col("amount").filter(kind == "new")).alias("new"),
        money_sum(pl.col("amount").filter(kind == "cross_sell")).alias("cross_sell"),
        money_sum(pl.col("amount").filter(kind == "upsell")).alias("upsell"),
        money_sum(pl.col("amount").filter(kind == "cross_sell_pass_through")).alias("cross_sell_pass_through"),
    )


@dataclass(frozen=True)
class Snapshots:
    """When ARR is looked at: on each period's closing day (``calendar``), or every day (None)."""

    calendar: Calendar | None

    def index(self, date: pl.Expr) -> pl.Expr:
        """The snapshot that first sees a change on ``date`` (days: the day itself, as a number)."""
        if self.calendar is None:
            return date.cast(pl.Int32).cast(pl.Int64)
        return self.calendar.index_expr(date)

    def day(self, index: pl.Expr) -> pl.Expr:
        """A snapshot's day: its period's last day, or T for the period holding it."""
        if self.calendar is None:
            return index.cast(pl.Int32).cast(pl.Date)
        return pl.min_horizontal(self.calendar.end_expr(index), as_of())


def arr_days(model: Model, calendar: Calendar) -> pl.LazyFrame:
    """Per (account, item, day) where a family's ARR changes: ``__units`` (the day's change, in
    exact micro-units), ``__after`` (the family's ARR after it, a running total) and ``__held``
    (some line changing it that day is seen at a closing day of ``calendar``), sorted by
    (account_id, item, period_index = the day as a number).

    A line is active on day d when start_date <= d < end_date, so it adds its amount on its
    start (when that is on or before T) and removes it on its end: two events per line. The
    day-by-day count (``arr_added``) reads these rows as they are, and the period bridge reads
    the last row of each (account, item, period) off them (``arr_changes``), so the two share
    one grouping and one sort of the lines (a command that shows both takes it as an explicit
    cache: both from one cache 4.35 CPU s on the 300 k-account book, each on its own 2.55 and
    2.81).
    """
    daily, periods = Snapshots(None), Snapshots(calendar)
    lines = model.won.select(
        "account_id",
        "item",
        "amount",
        "as_of",
        pl.when(pl.col("start_date") <= as_of()).then(daily.index(pl.col("start_date"))).alias("on"),
        pl.when(pl.col("end_date") <= as_of()).then(daily.index(pl.col("end_date"))).alias("off"),
        # A line that starts and ends inside one period is never seen at a closing day.
        (periods.index(pl.col("start_date")) < periods.index(pl.col("end_date"))).fill_null(True).alias("__held"),
    ).filter(pl.col("on").is_not_null() & (pl.col("off").is_null() | (pl.col("on") < pl.col("off"))))
    lines = lines.with_columns(pl.col("__held") | pl.col("off").is_null())
    events = pl.union(
        [
            lines.select("account_id", "item", "as_of", pl.col("on").alias("period_index"), "amount", "__held"),
            lines.filter(pl.col("off").is_not_null()).select(
                "account_id",
                "item",
                "as_of",
                pl.col("off").alias("period_index"),
                (-pl.col("amount")).alias("amount"),
                "__held",
            ),
        ],
        how="vertical",
    )
    # Running totals per family, over rows sorted by (key, day): each key's rows are
    # consecutive, so a running total is the book's running total less its value where the
    # key's rows begin, in exact micro-units (a cum_sum over millions of small window groups
    # cost 8 CPU s at 300 k accounts; this is a few linear scans).
    return (
        events.group_by("account_id", "item", "period_index")
        .agg(money_units(pl.col("amount")).alias("__units"), pl.col("as_of").first(), pl.col("__held").any())
        .sort("account_id", "item", "period_index")
        .with_columns(running(pl.col("__units"), "account_id", "item").alias("__after"))
    )


def arr_changes(model: Model, snapshots: Snapshots, days: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Per (account, item, snapshot) where the item's ARR changes: delta, arr_before, arr_after,
    whether the item / the account had ARR at any earlier snapshot, and the account's totals
    before and after (``period_index`` is the snapshot's index).

    ``days``: ``arr_days`` of the model (with this calendar), when the caller shares it. A
    period's row is the last day-row of the family in that period: its ``__after`` is the ARR
    at the period's close, and the change is the difference to the close before. A period
    whose day-rows are all of lines seen at no closing day has no row (their amounts net out
    inside it). (The snapshot before the first period holds no line.)
    """
    if days is None:
        days = arr_days(model, snapshots.calendar or Calendar())
    if snapshots.calendar is None:
        rows = days.drop("__held")
    else:
        period = snapshots.index(Snapshots(None).day(pl.col("period_index")))
        key = [pl.col("account_id"), pl.col("item"), pl.col("__p")]
        last = ~pl.all_horizontal([k == k.shift(-1) for k in key]).fill_null(False)
        same_item = pl.all_horizontal([k == k.shift(1) for k in key[:2]]).fill_null(False)
        rows = (
            days.with_columns(period.alias("__p"), pl.col("__held").cast(pl.Int64).cum_sum().alias("__seen"))
            .filter(last)
            .with_columns(
                (pl.col("__seen") - pl.col("__seen").shift(1).fill_null(0)).alias("__seen"),
                pl.when(same_item)
                .then(pl.col("__after") - pl.col("__after").shift(1))
                .otherwise(pl.col("__after"))
                .alias("__units"),
            )
            .filter(pl.col("__seen") > 0)
            .select("account_id", "item", pl.col("__p").alias("period_index"), "__units", "as_of", "__after")
        )
    items = (
        rows.with_columns(
            from_money_units(pl.col("__units")).alias("delta"),
            _clean(from_money_units(pl.col("__after"))).alias("arr_after"),
            _clean(from_money_units(pl.col("__after") - pl.col("__units"))).alias("arr_before"),
        )
        .with_columns(had_before(pl.col("arr_after") > 0, "account_id", "item").alias("item_had_arr"))
        .drop("__units", "__after")
    )
    accounts = (
        items.group_by("account_id", "period_index")
        .agg(money_units(pl.col("delta")).alias("__units"))
        .sort("account_id", "period_index")
        .with_columns(running(pl.col("__units"), "account_id").alias("__after"))
        .with_columns(
            from_money_units(pl.col("__units")).alias("account_delta"),
            _clean(from_money_units(pl.col("__after"))).alias("total_after"),
            _clean(from_money_units(pl.col("__after") - pl.col("__units"))).alias("total_before"),
        )
        .with_columns(had_before(pl.col("total_after") > 0, "account_id").alias("account_had_arr"))
        .drop("__units", "__after")
    )
    return items.join(accounts, on=["account_id", "period_index"], how="left").with_columns(
        snapshots.day(pl.col("period_index")).alias("day")
    )


def _clean(value: pl.Expr) -> pl.Expr:
    return pl.when(value.abs() < _EPS).then(0.0).otherwise(value)


def _arr_moves(
    model: Model, snapshots: Snapshots, pass_through: pl.LazyFrame | None, days: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Per (account, item, snapshot) where the item's ARR changes: the movement columns."""
    changes = arr_changes(model, snapshots, days)
    before, after = pl.col("arr_before"), pl.col("arr_after")
    opened = (pl.col("total_before") <= 0) & (pl.col("total_after") > 0)
    closed = (pl.col("total_before") > 0) & (pl.col("total_after") <= 0)
    going = (pl.col("total_before") > 0) & (pl.col("total_after") > 0)
    zero = pl.lit(0.0)
    moves = changes.with_columns(
        pl.when(opened & ~pl.col("account_had_arr")).then(after).otherwise(zero).alias("new"),
        pl.when(opened & pl.col("account_had_arr")).then(after).otherwise(zero).alias("reactivation"),
        pl.when(closed).then(-before).otherwise(zero).alias("churn"),
        pl.when(going & (before <= 0) & (after > 0) & ~pl.col("item_had_arr"))
        .then(after)
        .otherwise(zero)
        .alias("cross_sell"),
        pl.when(going & (after > before) & ((before > 0) | pl.col("item_had_arr")))
        .then(after - before)
        .otherwise(zero)
        .alias("upsell"),
        pl.when(going & (after < before)).then(after - before).otherwise(zero).alias("contraction"),
    )
    moves = moves.with_columns(pl.lit(0.0).alias("cross_sell_pass_through"))
    if pass_through is not None:
        flagged = pass_through.select("account_id", "item").unique().with_columns(pl.lit(True).alias("__pt"))
        moves = (
            moves.join(flagged, on=["account_id", "item"], how="left")
            .with_columns(
                pl.when(pl.col("__pt").fill_null(False))
                .then(pl.col("cross_sell"))
                .otherwise(0.0)
                .alias("cross_sell_pass_through"),
                pl.when(pl.col("__pt").fill_null(False)).then(0.0).otherwise(pl.col("cross_sell")).alias("cross_sell"),
            )
            .drop("__pt")
        )
    return moves


def _arr(
    model: Model,
    calendar: Calendar,
    by: GroupBy | None,
    pass_through: pl.LazyFrame | None,
    days: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    moves = _arr_moves(model, Snapshots(calendar), pass_through, days)
    if by == "rep":
        moves = _attach_rep(moves, model)
    moves = _with_group(moves, model, by)
    keys = ["period_index", *_group_keys(by)]
    return moves.group_by(keys).agg(
        *[money_sum(pl.col(m)).alias(m) for m in (*MOVEMENTS, "cross_sell_pass_through")],
        # Every change of a family's ARR, rounded per row like the movements: the period's
        # net in exact micro-units, whose running total is the closing ARR.
        money_units(pl.col("arr_after") - pl.col("arr_before")).alias("__net"),
    )


def arr_added(
    model: Model, *, pass_through_lines: pl.LazyFrame | None = None, days: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """One row: cross_sell (ARR added by cross-sells) and added (by every upward movement: new,
    reactivation, cross_sell, upsell, cross_sell_pass_through), snapshot day by day from the
    first start to T: the same whatever --period is. ``days``: see ``arr_changes``."""
    moves = _arr_moves(model, Snapshots(None), pass_through_lines, days)
    upward = pl.sum_horizontal("new", "reactivation", "cross_sell", "upsell", "cross_sell_pass_through")
    return moves.select(money_sum(pl.col("cross_sell")).alias("cross_sell"), money_sum(upward).alias("added"))


def _attach_rep(moves: pl.LazyFrame, model: Model) -> pl.LazyFrame:
    """The rep of a family's movement: the rep on its latest line started by the snapshot day."""
    # Ties on the start day go to the line booked last, then to the later row in the file.
    reps = (
        model.won.select("account_id", "item", pl.col("start_date").alias("day"), "booked_at", "_row", "rep")
        .group_by("account_id", "item", "day")
        .agg(pl.col("rep").sort_by("booked_at", "_row").last())
        .sort("day")
    )
    return moves.sort("day").join_asof(
        reps, on="day", by=["account_id", "item"], strategy="backward", check_sortedness=False
    )


def _finish(
    movements: pl.LazyFrame,
    model: Model,
    calendar: Calendar,
    by: GroupBy | None,
    mode: Mode,
) -> pl.LazyFrame:
    first_date = pl.col("booked_at" if mode == "bookings" else "start_date").min()
    last = calendar.index_expr(as_of().first())
    bounds = model.won.select(
        pl.min_horizontal(calendar.index_expr(first_date), last).alias("first"), last.alias("last")
    )
    periods = calendar.periods(bounds)
    keys = ["period_index", *_group_keys(by)]
    names = (*MOVEMENTS, "cross_sell_pass_through")
    if by is not None:
        # Groups that move at least once (a group whose lines are all 0 says nothing).
        present = [c for c in names if c in movements.collect_schema().names()]
        moved = pl.any_horizontal([pl.col(c).fill_null(0.0) != 0 for c in present])
        groups = movements.filter(moved).select(by).unique()
        grid = periods.join(groups, how="cross")
    else:
        grid = periods
    table = grid.join(movements, on=keys, how="left")
    amounts = [c for c in names if c in movements.collect_schema().names()]
    table = table.with_columns([pl.col(c).fill_null(0.0) for c in amounts])
    if mode == "bookings":
        table = table.with_columns(
            [pl.lit(None, dtype=pl.Float64).alias(c) for c in ("reactivation", "contraction", "churn")]
        )
    if mode == "arr" and by != "rep":
        # Every period of every listed group is in the grid, in order: the running total of
        # the nets is the ARR on each closing day (nothing is active before the first period).
        table = table.sort([*_group_keys(by), "period_index"]).with_columns(pl.col("__net").fill_null(0))
        running = pl.col("__net").cum_sum()
        closing = running.over(by) if by is not None else running
        table = table.with_columns(closing.alias("__closing")).with_columns(
            from_money_units(pl.col("__closing") - pl.col("__net")).alias("opening_arr"),
            from_money_units(pl.col("__closing")).alias("closing_arr"),
        )
    else:  # bookings mode has no ARR; by rep the bridge does not hold (module docstring)
        table = table.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in ("opening_arr", "closing_arr"))
    expansion_ = money_add(pl.col("cross_sell"), pl.col("upsell"))
    columns = [
        "period",
        "period_start",
        *_group_keys(by),
        *MOVEMENTS,
        expansion_.alias("expansion"),
        ratio(pl.col("cross_sell"), expansion_).alias("cross_sell_share"),
        # New columns go last, so the existing ones keep their places for scripts that read them.
        "cross_sell_pass_through",
        "opening_arr",
        "closing_arr",
    ]
    return table.select(columns).sort(["period_start", *_group_keys(by)], nulls_last=True)
