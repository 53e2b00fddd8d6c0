"""What ``xsell report`` draws: every metric's frame, computed once by the command.

The renderers (``render_html``, ``write_xlsx``) are pure functions of this record, so
the command computes the metrics and the renderers never read a file or the config.
Any frame may be empty (a book without dates has no expansion, timing or flags); the
renderers then say why instead of drawing an empty chart.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import polars as pl


@dataclass(frozen=True)
class ReportData:
    # xsell version
    version: str
    # None when there is no date to measure at (an export without dates: ownership as exported)
    as_of: datetime.date | None
    # e.g. "Cross-sell report: sample_data"
    title: str
    # (name, value) pairs: as-of, level, mode (bookings|arr), min_base, thresholds, window, where filters…
    settings: tuple[tuple[str, str], ...]
    # "family" or "product"
    level: str
    # "bookings" (no end dates) or "arr"
    mode: str
    min_base: int
    # table, file, rows, used, rejected, excluded, open (rows with an open stage, used by no metric)
    row_account: pl.DataFrame
    # kpi, value, good_low, good_high, status (below|within|above|null), detail
    summary: pl.DataFrame
    # every ordered pair incl. bases under min_base: base_family, target_family, base_accounts,
    # both_accounts, attach_rate, ci_low, ci_high, target_accounts, target_rate, lift, co_booked,
    # cross_sold_after, before, cross_sell_attach, flag ("forced_bundle" or null)
    attach: pl.DataFrame
    # the attach matrix's cells, as `xsell attach --matrix --all`: every ordered pair of the most-owned
    # items (up to 250), in attach's columns, zeros included (attach_rate is empty for a base of 0 only)
    attach_matrix: pl.DataFrame
    # item, customers: every item `xsell attach --matrix` has a row and column for (bought by the
    # as-of date or in the catalogue, owned or not), most-owned first, then by name
    attach_items: pl.DataFrame
    # period, period_start, new, reactivation, cross_sell, upsell, contraction, churn, expansion,
    # cross_sell_share, cross_sell_pass_through; in ARR mode also opening_arr, closing_arr
    # (bookings mode: reactivation/contraction/churn are null)
    expansion: pl.DataFrame
    # group, accounts_landed, accounts_cross_sold, median_days, p25_days, p75_days, p90_days,
    # within_90d, within_180d, within_365d, km_median_days, premature_cross_sells,
    # premature_early_churn_rate, other_early_churn_rate
    timing: pl.DataFrame
    # group, days, survival (S(t) just after t), at_risk, events, censored — one row per distinct
    # time per group; group "all" always present, more groups (land family or cohort) when asked
    km_curve: pl.DataFrame
    # products_owned ("1","2","3+","all"), accounts, start_arr, end_arr, logo_retention, grr, nrr;
    # None without end dates (say why in the page)
    retention: pl.DataFrame | None
    # account_id, account_name, family, score, expected_value, reason, rank (the top rows of the ranking)
    whitespace_top: pl.DataFrame
    # family, non_owners, whitespace_value, mean_score
    whitespace_by_family: pl.DataFrame
    # flag, severity, line_id, account_id, family, base_family, product_id, rep, contract_id,
    # booked_at, amount, list_amount, discount, detail
    flags: pl.DataFrame
    # rep, cross_sells, flagged, share_flagged, flagged_value
    flags_by_rep: pl.DataFrame
    # lines to show in the fine print
    notes: tuple[str, ...] = ()
    # a wide "who owns what" export: no dates, so no expansion, timing, retention or flags (say so)
    dateless: bool = False
    # (section, why) for a section left out on purpose (e.g. whitespace on a very wide book)
    omitted: tuple[tuple[str, str], ...] = ()
    # (cross_sell, revenue) as `xsell expansion`'s note counts them, the same for every --period:
    # ARR mode, ARR added day by day (new, reactivation, cross-sell, upsell and pass-through
    # movements); bookings mode, won revenue over every period (new, cross-sell, upsell and
    # pass-through). None when there is no revenue (nothing to be a share of).
    cross_sell_share: tuple[float, float] | None = None
    # the flags' pass-through threshold (fraction off list), for the sentences that name it
    pass_through_discount: float = 0.9
    # some won line booked on or before the as-of date has an end date (what ARR mode and
    # retention need; a book with end dates has none of them before its first booking)
    end_dates: bool = False
    # item, name: at product level, what a person calls each product id (the products table's
    # product_name); empty at family level or without names
    # the first day of the book that the bridge's first period holds: the earliest won line's
    # booked_at (bookings mode) or start_date (ARR mode); None without dates
    first_day: datetime.date | None = None
    item_names: pl.DataFrame = field(default_factory=lambda: ReportData.no_names())

    @staticmethod
    def no_names() -> pl.DataFrame:
        """An ``item_names`` without a name (family level, or products without names)."""
        return pl.DataFrame(schema={"item": pl.String, "name": pl.String})

    @cached_property
    def _names(self) -> dict[str, str]:
        return {
            str(item): str(name)
            for item, name in self.item_names.select("item", "name").iter_rows()
            if name is not None and str(name).strip() and str(name) != str(item)
        }

    def label(self, item: object) -> str:
        """How the page names an item: "22423 REGENCY CAKESTAND 3 TIER" at product level when the
        products table names it, else the id (or family) alone."""
        key = "" if item is None else str(item)
        name = self._names.get(key) if self.level == "product" else None
        return f"{key} {name}" if name else key

    @property
    def no_end_dates_text(self) -> str:
        """Why there is no churn to see, in `xsell retention`'s words, or that bookings mode was asked for."""
        if self.end_dates:
            return "the config's mode is bookings, so end dates are not read"
        return "no won line booked on or before the as-of date has an end date"

    @property
    def mode_text(self) -> str:
        """ "arr mode", "bookings mode", or what a book without dates has instead."""
        return "no dates: ownership only" if self.dateless else f"{self.mode} mode"

    @property
    def no_whitespace_text(self) -> str:
        """Why the whitespace is empty: every sellable item is ranked for every customer who lacks
        it (none left out), so an empty list means every customer owns every one of them."""
        one = self.attach_items.height == 1
        return f"No whitespace: every customer owns every sellable {self.level}" + (
            f" (the book has one {self.level})." if one else "."
        )

    def kpi_detail(self, kpi: str, detail: str) -> str:
        """A headline KPI's detail line, with what the bare number hides: customers who own two
        families only because one is a forced bundle count as multi-product (the page and the
        workbook both say so next to the rate)."""
        if kpi != "multi_product_rate" or "flag" not in self.attach.columns:
            return detail
        forced = self.attach.filter(pl.col("flag") == "forced_bundle").sort(
            ["both_accounts", "target_family", "base_family"], descending=[True, False, False]
        )
        if forced.is_empty():
            return detail
        # (what the flag's threshold says: "on Core's deals in 95%+ of its lines")
        threshold = dict(self.settings).get("forced_bundle_share")
        how = f"in {float(threshold):.0%}+ of its lines" if threshold else "almost always"
        named = [
            f"{self.label(row['target_family'])}, sold on {self.label(row['base_family'])}'s deals {how} "
            f"({row['both_accounts']:,} customers own both)"
            for row in forced.head(3).iter_rows(named=True)
        ]
        left = forced.height - 3
        more = f"; and {left} more forced bundle{'s' if left > 1 else ''}" if left > 0 else ""
        return (
            f"{detail}. Forced bundles count here: {'; '.join(named)}{more}. Owning a forced bundle is no "
            "cross-sell (see Attach rates)"
        )

    def _periods(self) -> tuple[list[str], list[datetime.date], int | None]:
        """The bridge's period labels, first days and length in months (None: not calendar
        months, quarters or years)."""
        labels = (
            [str(v) for v in self.expansion.get_column("period").to_list()]
            if "period" in self.expansion.columns
            else []
        )
        starts = self.expansion.get_column("period_start").to_list() if "period_start" in self.expansion.columns else []
        months = {"month": 1, "quarter": 3, "year": 12}.get(period_word(labels))
        if not all(isinstance(v, datetime.date) for v in starts):
            return labels, [], None
        return labels, starts, months

    @property
    def partial_open_text(self) -> str:
        """The sentence that marks a first period the book starts inside (its label gets a "*"):
        a book whose first line is dated 14 February holds 46 of the first quarter's 90 days, so
        its first bars are not comparable with the others. Empty when it is whole."""
        labels, starts, months = self._periods()
        if months is None or not starts or self.first_day is None or self.first_day <= starts[0]:
            return ""
        start, end = starts[0], _last_day(starts[0], months)
        if self.first_day > end:
            return ""
        closes = min(end, self.as_of) if self.as_of is not None else end
        return (
            f"* {labels[0]} is partial: the book's first line in it is dated {self.first_day.isoformat()}, "
            f"so its bars hold {(closes - self.first_day).days + 1} of its {(end - start).days + 1} days."
        )

    @property
    def partial_close_text(self) -> str:
        """The sentence that marks a last period cut short (its label gets a "*"): it closes on
        the as-of date, not on its last day (as of 15 November a quarter holds 46 of 92 days), so
        its bars are not comparable with the others. Empty when it is whole."""
        labels, starts, months = self._periods()
        if months is None or self.as_of is None or not starts:
            return ""
        start = starts[-1]
        last_day = _last_day(start, months)
        if self.as_of >= last_day:
            return ""
        opens = self.first_day if len(starts) == 1 and self.first_day and self.first_day > start else start
        return (
            f"* {labels[-1]} is partial: it closes on the as-of date, {self.as_of.isoformat()}, not on its last "
            f"day ({last_day.isoformat()}), so its bars hold {(self.as_of - opens).days + 1} of its "
            f"{(last_day - start).days + 1} days."
        )

    @property
    def where_parts(self) -> tuple[str, ...]:
        """ "only accounts where segment=Enterprise" when --where chose the accounts measured (the
        masthead names it next to the as-of date: a page of one segment's KPIs must say so)."""
        chosen = dict(self.settings).get("where")
        return (f"only accounts where {chosen}",) if chosen and chosen != "(none)" else ()

    @property
    def as_of_text(self) -> str:
        """ "as of 2025-12-31", or what stands in for it in a book without dates."""
        return f"as of {self.as_of.isoformat()}" if self.as_of else "no dates (ownership as exported)"


def matrix_axis(items: pl.DataFrame) -> list[str]:
    """The attach matrix's items, rows and columns alike: most-owned first, then by name, so the
    page and the workbook draw one order."""
    ordered = items.sort(["customers", "item"], descending=[True, False])
    return [str(v) for v in ordered.get_column("item").to_list()]


def period_word(labels: Sequence[str]) -> str:
    """What the expansion's periods are, read off their labels: quarter (2025-Q1), month
    (2025-01), year (2025), else "period"."""
    if labels and all("-Q" in label for label in labels):
        return "quarter"
    if labels and all(len(label) == 4 for label in labels):
        return "year"
    if labels and all(len(label) == 7 for label in labels):
        return "month"
    return "period"


def _last_day(start: datetime.date, months: int) -> datetime.date:
    """The last day of the period of ``months`` months that starts on ``start``."""
    after = start.month - 1 + months
    return datetime.date(start.year + after // 12, after % 12 + 1, 1) - datetime.timedelta(days=1)
