"""Eager views of the lazy library for tests: collect a metric's plan, read T, load a book."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from crossell_cli.ingest import Book
from crossell_cli.metrics import attach as attach_metric
from crossell_cli.model import Model


def collect(frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    return frame.collect(engine="streaming") if isinstance(frame, pl.LazyFrame) else frame


def as_of(model: Model) -> dt.date | None:
    value = model.as_of_frame.collect().item()
    return value if isinstance(value, dt.date) else None


def has_end_dates(model: Model) -> bool:
    return bool(model.has_end_dates.collect().item())


@dataclass(frozen=True)
class Headline:
    customers: int
    multi_product_rate: float | None
    items_per_customer: float | None


def attach(
    model: Model,
    *,
    bases: list[str] | None = None,
    forced_bundles: pl.LazyFrame | pl.DataFrame | None = None,
    min_base: int | None = None,
) -> tuple[pl.DataFrame, Headline]:
    """The pair list (collected) and the headline, as the metric computes them for the CLI."""
    chosen = attach_metric.chosen_bases(model, bases) if bases is not None else None
    forced = forced_bundles.lazy() if forced_bundles is not None else None
    pairs = collect(attach_metric.attach_pairs(model, forced=forced, min_base=min_base, bases=chosen))
    head = collect(attach_metric.headline(model.ownership)).row(0, named=True)
    return pairs, Headline(int(head["customers"]), head["multi_product_rate"], head["items_per_customer"])


@dataclass(frozen=True)
class EagerBook:
    line_items: pl.DataFrame
    accounts: pl.DataFrame
    products: pl.DataFrame
    issues: pl.DataFrame
    counts: pl.DataFrame
    present: frozenset[str]
    given: frozenset[str]
    dateless: bool

    def count(self, table: str, column: str) -> int:
        return int(self.counts.filter(pl.col("table") == table)[column].item())

    @property
    def rejects(self) -> pl.DataFrame:
        return self.issues.filter(pl.col("severity") == "rejected")

    @property
    def warnings(self) -> pl.DataFrame:
        return self.issues.filter(pl.col("severity") != "rejected")


def eager(book: Book) -> EagerBook:
    """Every frame of a lazy book collected (the guards checked), line items in file order."""
    from crossell_cli.ingest import accounts_from_lines

    accounts = book.accounts if book.accounts is not None else accounts_from_lines(book.line_items)
    frames = pl.collect_all(
        [book.line_items, accounts, book.products, book.issues, book.counts, *(g.frame for g in book.guards)],
        engine="streaming",
    )
    for guard, frame in zip(book.guards, frames[5:], strict=True):
        guard.check(frame)
    lines, accounts_df, products, issues, counts = frames[:5]
    return EagerBook(
        line_items=lines.sort("_row"),
        accounts=accounts_df,
        products=products,
        issues=issues.sort("severity", "table", "row", "column", descending=[True, False, False, False]),
        counts=counts,
        present=book.present,
        given=book.given,
        dateless=book.dateless,
    )


def load_book(settings: Any, profile: Mapping[str, Any] | None = None) -> EagerBook:
    from crossell_cli.ingest import load

    return eager(load(settings, profile or {}))


# Eager wrappers of the metrics, with the signatures the hand-worked tests use.


def expansion(model: Model, **kwargs: Any) -> pl.DataFrame:
    from crossell_cli.metrics.expansion import expansion as plan

    pass_through = kwargs.pop("pass_through_lines", None)
    if isinstance(pass_through, pl.DataFrame):
        pass_through = pass_through.lazy()
    return collect(plan(model, pass_through_lines=pass_through, **kwargs))


def arr_added(model: Model, **kwargs: Any) -> tuple[float, float]:
    from crossell_cli.metrics.expansion import arr_added as plan

    cross, added = collect(plan(model, **kwargs)).row(0)
    return float(cross or 0.0), float(added or 0.0)


def timing(model: Model, **kwargs: Any) -> pl.DataFrame:
    from crossell_cli.metrics.timing import timing as plan

    return collect(plan(model, **kwargs))


def retention(model: Model, **kwargs: Any) -> pl.DataFrame:
    from crossell_cli.metrics.retention import retention as plan

    return collect(plan(model, **kwargs))


def whitespace(
    model: Model,
    *,
    min_base: int,
    forced_pairs: pl.DataFrame | pl.LazyFrame | None = None,
    accounts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    from crossell_cli.metrics.whitespace import whitespace as plan

    forced = forced_pairs.lazy() if forced_pairs is not None else None
    listed = accounts.lazy().select("account_id") if accounts is not None else None
    return collect(plan(model, min_base=min_base, forced=forced, accounts=listed))


def attach_baseline(
    model: Model, *, min_base: int, forced_pairs: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    from crossell_cli.metrics.whitespace import attach_baseline as plan

    forced = forced_pairs.lazy() if forced_pairs is not None else None
    return collect(plan(model, min_base=min_base, forced=forced))


def by_family(rows: pl.DataFrame) -> pl.DataFrame:
    from crossell_cli.metrics.whitespace import by_family as rollup

    return rollup(rows)


def summary(
    model: Model, *, window_days: int, has_stage: bool, premature_days: int, early_churn_days: int
) -> pl.DataFrame:
    from crossell_cli.metrics.summary import summary as assemble
    from crossell_cli.metrics.summary import summary_parts

    parts = summary_parts(
        model, window_days=window_days, premature_days=premature_days, early_churn_days=early_churn_days
    )
    collected = dict(zip(parts, pl.collect_all(list(parts.values()), engine="streaming"), strict=True))
    return assemble(collected, window_days=window_days, has_stage=has_stage, dateless=model.dateless, level=model.level)


def forced_bundles(model: Model, **kwargs: Any) -> pl.DataFrame:
    from crossell_cli.metrics.flags import forced_bundles as plan

    return collect(plan(model, **kwargs))


def flags(model: Model, settings: Any) -> pl.DataFrame:
    from crossell_cli.metrics.flags import flags as plan

    return collect(plan(model, settings))


def by_rep(model: Model, settings: Any, **kwargs: Any) -> pl.DataFrame:
    from crossell_cli.metrics.flags import by_rep as plan

    return collect(plan(model, settings, **kwargs))


def filter_findings(findings: pl.DataFrame, **kwargs: Any) -> pl.DataFrame:
    from crossell_cli.metrics.flags import filter_findings as keep

    return collect(keep(findings.lazy(), **kwargs))


# The load report the loading tests read: per-table counts and mappings, rejects, warnings.


@dataclass(frozen=True)
class TableReport:
    table: str
    rows: int
    used: int
    open: int
    rejected: int
    excluded: int
    blank_lines: int
    footer_lines: int
    header_lines: int
    mapping: tuple[Any, ...]
    ignored_headers: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    tables: dict[str, TableReport]
    rejects: pl.DataFrame
    warnings: pl.DataFrame
    counts: pl.DataFrame

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables.values())


def report_of(book: Book, frames: EagerBook) -> Report:
    tables = {}
    for row in frames.counts.iter_rows(named=True):
        source = book.sources[row["table"]]
        tables[row["table"]] = TableReport(
            table=row["table"],
            rows=row["rows"],
            used=row["used"],
            open=row["open"],
            rejected=row["rejected"],
            excluded=row["excluded"],
            blank_lines=row["blank_lines"],
            footer_lines=row["footer_lines"],
            header_lines=row["header_lines"],
            mapping=source.mapping,
            ignored_headers=source.ignored_headers,
        )
    return Report(tables, frames.rejects, frames.warnings, frames.counts)


def load_with_report(settings: Any, profile: Mapping[str, Any] | None = None) -> tuple[EagerBook, Report]:
    from crossell_cli.ingest import load

    book = load(settings, profile or {})
    frames = eager(book)
    return frames, report_of(book, frames)


def session_load(session: Any) -> tuple[EagerBook, Report]:
    frames = eager(session.book)
    return frames, report_of(session.book, frames)


# The row account on stderr, parsed. Every command ends with the short line
# ("15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected"); validate
# also gives each table's full account ("accounts: 4,000 rows, 4,000 used, 0 rejected, …").

_NUMBER = r"(\d[\d,]*)"
SHORT_ACCOUNT = re.compile(
    rf"^{_NUMBER} line items: {_NUMBER} used(?:, {_NUMBER} open(?: \(no metric uses them\))?)?, {_NUMBER} rejected"
    rf"(?:, {_NUMBER} excluded)?",
    re.M,
)
TABLE_ACCOUNT = re.compile(
    rf"^(line_items|accounts|products): {_NUMBER} rows, {_NUMBER} used(?:, {_NUMBER} open \(no metric uses them\))?"
    rf", {_NUMBER} rejected(?:, {_NUMBER} excluded by the config)?",
    re.M,
)


@dataclass(frozen=True)
class RowAccount:
    rows: int
    used: int
    open: int
    rejected: int
    excluded: int

    @property
    def kept(self) -> int:
        """Rows loaded and not rejected or excluded: used by a metric, or open pipeline."""
        return self.used + self.open

    def adds_up(self) -> bool:
        return self.rows == self.used + self.open + self.rejected + self.excluded


def _n(text: str | None) -> int:
    return int(text.replace(",", "")) if text else 0


def short_account(stderr: str) -> RowAccount | None:
    """The line items of the one-line account every command ends with."""
    match = SHORT_ACCOUNT.search(stderr)
    return RowAccount(*(_n(g) for g in match.groups())) if match else None


def table_accounts(stderr: str) -> dict[str, RowAccount]:
    """Each table's full account, as validate gives it on stderr (machine formats)."""
    return {m[1]: RowAccount(*(_n(g) for g in m.groups()[1:])) for m in TABLE_ACCOUNT.finditer(stderr)}
