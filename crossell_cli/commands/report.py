"""xsell report: every metric from one shared plan, as the record the report renderers draw.

The book is read once (``Session.facts``), over the whole book because whitespace takes its
evidence from every account; the ``--where`` accounts are then chosen in memory, exactly as
``Session.facts(apply_where=True)`` would have. Every metric's lazy frame goes into ONE
``Plan`` and one ``collect`` (``collect_all``), so shared facts (ownership, classified lines,
pass-through lines) are computed in one run of the engine. ``finish`` turns what came back into
a ``ReportData``; the numbers are the same frames each command shows, computed by the same
functions with the same arguments (tests/test_report_cli.py compares them with each
command's CSV). Whitespace is reached only through the public ``whitespace`` function (its
scoring is another branch's to change); the report sizes it first with its own measure,
``whitespace_work``, from the model's facts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import polars as pl

from .. import __version__
from ..ingest.repeats import held_at
from ..metrics import attach as attach_metric
from ..metrics import expansion as expansion_metric
from ..metrics import flags as flags_metric
from ..metrics import retention as retention_metric
from ..metrics import summary as summary_metric
from ..metrics import timing as timing_metric
from ..metrics import whitespace as whitespace_metric
from ..metrics.periods import Calendar
from ..model import ALL_COLUMNS, Model, where_condition
from .session import Collected, Plan, Session
from .validate import OVERLAP_EFFECT, held_at_t
from .whitespace import fit_cached, forced_frame, scored_rows

if TYPE_CHECKING:
    from ..report import ReportData

CurvesBy = Literal["land_family", "cohort", "segment"]
CURVE_GROUPS: tuple[str, ...] = ("land_family", "cohort", "segment")
TOP_WHITESPACE = 20
# The attach matrix's items: the workbook's grid (the page draws the top 20 of them).
MATRIX_ITEMS = 250
# Whitespace scores every (signature, owned family, candidate family) row, in memory: about 80
# bytes a row. Past this many rows (6 GB) the report leaves it out and says so; a 1 M-account
# book of 40 families needs ~25 M, the UCI Online Retail book at product level 974 M.
WHITESPACE_ROWS = 75_000_000

_TIMING_SCHEMA = {
    "group": pl.String,
    "accounts_landed": pl.Int64,
    "accounts_cross_sold": pl.Int64,
    "median_days": pl.Float64,
    "p25_days": pl.Float64,
    "p75_days": pl.Float64,
    "p90_days": pl.Float64,
    "within_90d": pl.Float64,
    "within_180d": pl.Float64,
    "within_365d": pl.Float64,
    "km_median_days": pl.Float64,
    "premature_cross_sells": pl.Int64,
    "premature_early_churn_rate": pl.Float64,
    "other_early_churn_rate": pl.Float64,
}
_CURVE_SCHEMA = {
    "group": pl.String,
    "days": pl.Float64,
    "survival": pl.Float64,
    "at_risk": pl.Int64,
    "events": pl.Int64,
    "censored": pl.Int64,
}
_BY_REP_SCHEMA = {
    "rep": pl.String,
    "cross_sells": pl.Int64,
    "flagged": pl.Int64,
    "share_flagged": pl.Float64,
    "flagged_value": pl.Float64,
}
_EXPANSION_SCHEMA = {"period": pl.String, "period_start": pl.Date} | {
    c: pl.Float64 for c in expansion_metric.COLUMNS[2:]
}


@dataclass(frozen=True)
class Report:
    """What the report command collects (``plan``) and how the result becomes a ``ReportData``."""

    plan: Plan
    finish: Callable[[Collected], ReportData]


def report(session: Session, *, curves_by: str | None = None, top: int = TOP_WHITESPACE) -> Report:
    """One plan for every metric; see the module docstring. ``curves_by``: one Kaplan–Meier
    curve (and timing row) per land family, land cohort or segment besides "all"."""
    settings = session.settings
    t = settings.thresholds
    whole, ingested = session.facts(ALL_COLUMNS, apply_where=False, stages=True)
    model = _with_where(whole, settings.where)
    # The lines are classified before the plan is built (the bookings bridge reads every
    # kind): the flags' and pass-through's cross-sell lines are then filters of the
    # classification in memory, not joins inside the one collect of every metric, where
    # the report's peak is (300k-account book: 2.63-2.65 -> 2.52 GB, the same time).
    if not model.dateless:
        _ = model.classified
    sides: dict[str, pl.LazyFrame] = {"end_dates": model.has_end_dates}

    # summary (as `xsell summary`)
    parts = summary_metric.summary_parts(
        model, window_days=settings.window_days, premature_days=t.premature_days, early_churn_days=t.early_churn_days
    )
    sides |= {f"summary_{k}": v for k, v in parts.items()}

    # attach: every ordered pair, bases under min_base included (as `xsell attach --all`)
    bundles = flags_metric.forced_bundles(model, share=t.forced_bundle_share, min_lines=settings.min_base)
    # (the list and the matrix read one count of the pairs)
    counted = attach_metric.pair_counts(model)
    sides["attach"] = attach_metric.attach_pairs(model, forced=bundles, min_base=None, counted=counted)
    sides["attach_head"] = attach_metric.headline(model.ownership)
    # the matrix (as `xsell attach --matrix --all`): every item a row and a column, items nobody
    # owns included, and every cell of the MATRIX_ITEMS most-owned, a pair nobody owns both of
    # included (0, not an empty cell: only a base of 0 has no rate).
    items = attach_metric.owners(model).select("item", pl.col("owners").alias("customers"))
    sides["attach_items"] = items.sort(["customers", "item"], descending=[True, False])
    most_owned = sides["attach_items"].head(MATRIX_ITEMS).select("item")
    sides["attach_matrix"] = attach_metric.attach_pairs(
        model, forced=bundles, min_base=None, bases=most_owned, counted=counted
    ).join(most_owned.select(pl.col("item").alias("target_family")), on="target_family", how="semi")

    # the first day the bridge's first period holds (bookings: the first won booking; ARR: the
    # first start), to mark a first period the book starts inside
    if not model.dateless:
        present = model.won.collect_schema().names()
        sides["first_days"] = model.won.select(
            *(
                (pl.col(c).min() if c in present else pl.lit(None, dtype=pl.Date)).alias(c)
                for c in ("booked_at", "start_date")
            )
        )

    # product names, for the page's labels at product level (as `xsell whitespace` names them)
    if model.level == "product":
        sides["item_names"] = whitespace_metric.item_names(model)

    # whitespace (as `xsell whitespace --top N` and `--by family`): evidence from the whole book,
    # through the public `whitespace` function only; left out (and said why) on a book too wide
    # to score in memory, which is measured first (one small collect of facts already in memory).
    listed = whole.accounts.filter(where_condition(settings.where)).select("account_id") if settings.where else None
    work = whitespace_work(whole, within=WHITESPACE_ROWS)
    if work <= WHITESPACE_ROWS:
        # The same fit (from the cache when unchanged) and the same rows as `xsell whitespace`.
        fitted = fit_cached(session, whole, horizon_days=whitespace_metric.HORIZON_DAYS, use_cache=True)
        forced = forced_frame(fitted, whole, session)
        # Scored once: the top rows are the head of the book's rows in the "score" order (those
        # `xsell whitespace --top N` prints), and only they are given a reason.
        # The rows are a plan over the scored cells in memory: the roll-up reads their family,
        # score and value, and only the top rows are built with names (all 9.2 M at 300 k
        # accounts took 1 s). Both are taken now, so the cells are freed before the one collect
        # of every other metric, where the peak is.
        rows = scored_rows(whole, session, fitted, forced, listed, order="account", top=None, reasons=False)
        sides["whitespace_by_family"] = whitespace_metric.by_family(rows).collect().lazy()
        head = whitespace_metric.top_by_score(rows, top)
        del rows
        pairs = [(str(a), str(b)) for a, b in forced.collect().iter_rows()]
        sides["whitespace_top"] = (
            whitespace_metric.with_reasons(head, whole, fitted, min_base=settings.min_base, forced=pairs)
            if fitted is not None
            else head.lazy()
        )

    dated = not model.dateless
    calendar = Calendar(settings.period, settings.fiscal_year_start_month)
    quarters = Calendar("quarter", settings.fiscal_year_start_month)
    end_dates_known = model.end_dates_known() if not model.dateless else None
    modes = expansion_metric.modes_to_build(settings.mode, end_dates_known if settings.mode == "auto" else None)
    flag_settings = flags_metric.FlagSettings.of(settings)
    if dated:
        # expansion (as `xsell expansion`): under auto, the mode the data choose
        pass_through = flags_metric.pass_through_lines(model, discount=t.pass_through_discount).select(
            "line_id", "account_id", "item"
        )
        # (the ARR bridge and the day-by-day count read one grouping and sort of the lines)
        days = expansion_metric.arr_days(model, calendar).cache() if "arr" in modes else None
        for mode in modes:
            sides[f"expansion_{mode}"] = expansion_metric.expansion(
                model, mode=mode, calendar=calendar, pass_through_lines=pass_through, days=days
            )
        if "arr" in modes:
            sides["arr_added"] = expansion_metric.arr_added(model, pass_through_lines=pass_through, days=days)
            if ingested.as_of is not None:
                # (ARR adds up every line held at T: one product held twice at once may be a
                # renewal the export never ended, and the page must say so, as validate does)
                sides["held"] = held_at(model.lines, ingested.as_of)
        # timing (as `xsell timing`: the summary's own "all" row; `--by GROUP`) and its curves
        timing_by = cast("timing_metric.TimingBy | None", curves_by)
        sides["km_all"] = timing_metric.km_curve(model, by=None, calendar=quarters)
        if timing_by is not None:
            sides["timing_by"] = timing_metric.timing(
                model,
                by=timing_by,
                calendar=quarters,
                premature_days=t.premature_days,
                early_churn_days=t.early_churn_days,
            )
            sides["km_by"] = timing_metric.km_curve(model, by=timing_by, calendar=quarters)
        # retention (as `xsell retention`), flags (as `xsell flags --all-findings` and `--by rep`)
        if end_dates_known is not False:  # (no end dates: the report says retention needs them)
            sides["retention"] = retention_metric.retention(model, window_days=settings.window_days)
        flagged = flags_metric.flagged_lines(model, flag_settings)
        sides["flags"] = flags_metric.flags(model, flag_settings, flagged)
        sides["flags_by_rep"] = flags_metric.by_rep(model, flag_settings, flagged)

    def finish(got: Collected) -> ReportData:
        from ..report import ReportData  # the renderers' package: only when a report is made

        frames = got.frames
        end_dates = bool(got.scalar("end_dates"))
        as_of = None if model.dateless else got.as_of  # a wide export's T is no date of its own
        summary_parts = {k: got[f"summary_{k}"] for k in parts}
        summary = summary_metric.summary(
            summary_parts,
            window_days=settings.window_days,
            has_stage=model.has_stage,
            dateless=model.dateless,
            level=model.level,
        )
        chosen: expansion_metric.Mode = (
            settings.mode if settings.mode != "auto" else ("arr" if end_dates else "bookings")
        )
        notes: list[str] = []
        if dated:
            expansion = got[f"expansion_{chosen}"]
            timing = got["summary_timing"]
            curve = got["km_all"]
            if "timing_by" in frames:
                by_rows = got["timing_by"]
                timing = pl.concat([timing, by_rows.rename({by_rows.columns[0]: "group"})], how="vertical_relaxed")
                curve = pl.concat([curve, got["km_by"]], how="vertical_relaxed")
            retention = got["retention"] if end_dates else None
            findings, by_rep = got["flags"], got["flags_by_rep"]
        else:
            notes.append(
                "This export has no dates (one row per account saying who owns what): expansion, time to "
                "cross-sell, retention and flags need them; attach, whitespace and the multi-product rate do not."
            )
            expansion = pl.DataFrame(schema=_EXPANSION_SCHEMA)
            timing = pl.DataFrame(schema=_TIMING_SCHEMA)
            curve = pl.DataFrame(schema=_CURVE_SCHEMA)
            retention = None
            findings = pl.DataFrame(schema=dict.fromkeys(flags_metric.FLAG_COLUMNS, pl.String))
            by_rep = pl.DataFrame(schema=_BY_REP_SCHEMA)
        omitted: list[tuple[str, str]] = []
        if work > WHITESPACE_ROWS:
            omitted.append(
                (
                    "whitespace",
                    f"Whitespace was left out: scoring it here means about {work:,} (customer type, owned "
                    f"{model.level}, candidate) rows, more than the report's limit of {WHITESPACE_ROWS:,} "
                    f"({model.level} level on a wide catalogue). 'xsell whitespace' with the same options ranks "
                    f"without a limit, given the memory: add --top {top} for the rows this section would show, or "
                    f"--by family for the value per {model.level}; at family level (families in the products "
                    "table) the book is narrower.",
                )
            )
            none = whitespace_metric.empty(model.level)
            ws_top, ws_by_family = none.collect(), whitespace_metric.by_family(none).collect()
        else:
            ws_top, ws_by_family = got["whitespace_top"], got["whitespace_by_family"]
        caveat = summary_metric.caveat_of(summary_parts, level=model.level, dateless=model.dateless)
        if caveat is not None:
            notes.append(f"Headline status '{caveat[0]}': {caveat[1]}.")
        # Cross-sell's share as `xsell expansion`'s note counts it (commands/expansion.py), the same
        # for every --period: ARR mode, ARR added counted day by day (period snapshots net out what
        # rises and falls between them: by year, a family added in an account's first year is new);
        # bookings mode, every won line over the periods, pass-through cross-sells included.
        share: tuple[float, float] | None = None
        if "arr_added" in frames and chosen == "arr":
            cross, added = (float(v or 0.0) for v in got["arr_added"].row(0))
            share = (cross, added) if added else None
            if added:
                notes.append(
                    f"Counted day by day (as 'xsell expansion' notes), cross-sell is {cross / added:.1%} of ARR added "
                    f"({cross:,.0f} of {added:,.0f}): the same for every --period, unlike the sum of the period rows."
                )
        elif dated and chosen == "bookings":
            revenue = ("new", "cross_sell", "upsell", "cross_sell_pass_through")
            won = float(expansion.select(pl.sum_horizontal([pl.col(c).fill_null(0).sum() for c in revenue])).item())
            share = (float(expansion["cross_sell"].sum()), won) if won else None
        if settings.where:
            notes.append(
                "The --where filter chooses the accounts measured; whitespace evidence (the attach rates behind "
                "each score) always comes from the whole book."
            )
        if chosen == "arr" and "held" in frames:
            notes += _overlap_notes(got["held"])
        # (a wide export without dates has no amounts to describe)
        lead = "Rows used"
        if dated:
            amounts = (
                "the lines' annualised recurring value"
                if chosen == "arr"
                else "the won lines' values as exported (bookings mode: none is taken as recurring)"
            )
            lead = f"Amounts are {amounts}, in one currency; rows used"
        notes.append(
            f"{lead} with a warning (exact duplicate rows, overlapping subscriptions, orphans, negative amounts) "
            "count as they are, and 'xsell validate' lists them; 'xsell COMMAND --format csv' gives every number "
            "here unrounded."
        )
        first_day = None
        if "first_days" in frames and dated:
            value = got["first_days"].get_column("start_date" if chosen == "arr" else "booked_at").item()
            first_day = value if isinstance(value, dt.date) else None
        return ReportData(
            version=__version__,
            as_of=as_of,
            title=f"Cross-sell report: {source_name(session)}",
            settings=_settings(session, as_of, chosen if dated else None, curves_by, top),
            level=model.level,
            mode=chosen if dated else "bookings",
            min_base=settings.min_base,
            row_account=_row_account(session, got.counts),
            summary=summary,
            attach=got["attach"],
            attach_matrix=got["attach_matrix"],
            attach_items=got["attach_items"],
            expansion=expansion,
            timing=timing,
            km_curve=curve,
            retention=retention,
            whitespace_top=ws_top,
            whitespace_by_family=ws_by_family,
            flags=findings,
            flags_by_rep=by_rep,
            notes=tuple(notes),
            dateless=model.dateless,
            omitted=tuple(omitted),
            cross_sell_share=share,
            pass_through_discount=t.pass_through_discount,
            end_dates=end_dates,
            first_day=first_day,
            item_names=got["item_names"] if "item_names" in frames else ReportData.no_names(),
        )

    return Report(Plan(sides=sides, model=model, ingested=ingested), finish)


def whitespace_work(model: Model, *, within: int | None = None) -> int:
    """How many (customer type, owned item, candidate item) rows scoring whitespace takes on this
    book: Σ over customer types (accounts of one segment owning one set of items) of the items
    owned × the items in the book (bought or catalogued; unsellable ones too, so it errs high).
    Accounts of one type score alike, so it is the book's width,
    not its size, that makes this large: the UCI Online Retail book at product level (4 308
    types owning 62 of 3 659 products each) needs about 974 million, a 10-family book of 4 000
    accounts 15 thousand. It is the report's own measure, from the model's facts; it does not
    look inside the whitespace metric.

    ``within``: when even counting every customer as a type of its own stays within it, that
    count is returned, and the types are not looked for (only a figure past the limit is shown).
    A set of at most 64 owned items is told by a bit mask, not by its names joined."""
    offered, pairs = (
        int(frame.item() or 0)
        for frame in pl.collect_all([model.items.select(pl.len()), model.ownership.select(pl.len())])
    )
    if within is not None and pairs * offered <= within:
        return pairs * offered
    names = model.ownership.select(pl.col("item").unique().sort()).collect()["item"].to_list()
    if len(names) <= 64:
        bit = pl.col("item").replace_strict(names, [1 << k for k in range(len(names))], return_dtype=pl.UInt64)
        owned_set = bit.sum()
    else:
        owned_set = pl.col("item").sort().str.join("\x1f")
    segments = model.accounts.select("account_id", "segment")
    types = (
        model.ownership.group_by("account_id")
        .agg(owned_set.alias("owned_set"), pl.len().alias("owned"))
        .join(segments, on="account_id", how="left")
        .unique(["segment", "owned_set"])
    )
    owned = types.select(pl.col("owned").sum()).collect().item() or 0
    return int(owned) * offered


def _overlap_notes(held: pl.DataFrame) -> list[str]:
    """The page's line on account × product pairs holding two won lines or more at T (``held_at``),
    in `xsell validate`'s words: ARR, the bridge and retention add such lines up."""
    if not held.height or not held["overlapping"].item():
        return []
    at = held_at_t(held.row(0, named=True))
    return [f"Overlapping subscriptions: {at}. {OVERLAP_EFFECT} ('xsell validate' lists the lines)."]


def _with_where(whole: Model, where: tuple[tuple[str, str], ...]) -> Model:
    """The model of the --where accounts over the whole book read into memory: what
    ``Session.facts(apply_where=True)`` gives, without reading the book a second time."""
    if not where:
        return whole
    listed = whole.accounts.filter(where_condition(where)).select("account_id")
    return dataclasses.replace(whole, where=tuple(where), listed=listed)


def source_name(session: Session) -> str:
    """What the report is about, in a word: the config's folder, the data folder or the file."""
    if session.config_path is not None:
        folder = session.config_path.resolve().parent.name
        return folder or session.config_path.stem
    line_items = session.settings.sources["line_items"].path
    return line_items.resolve().parent.name or line_items.stem


def _shown_path(path: Path) -> str:
    normal = Path(os.path.normpath(path))
    try:
        return str(normal.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(normal)


def _row_account(session: Session, counts: pl.DataFrame) -> pl.DataFrame:
    sources = session.settings.sources
    files = pl.DataFrame(
        {
            "table": list(sources),
            "file": [_shown_path(s.path) for s in sources.values()],
        },
        schema={"table": pl.String, "file": pl.String},
    )
    # Lines booked after --as-of get a column only when there are some (a given T before the end).
    after = ["after_as_of"] if int(counts.get_column("after_as_of", default=pl.Series([0])).sum()) else []
    return counts.join(files, on="table", how="left", maintain_order="left").select(
        "table", "file", "rows", "used", *after, "rejected", "excluded", "open"
    )


def _settings(
    session: Session, as_of: dt.date | None, mode: str | None, curves_by: str | None, top: int
) -> tuple[tuple[str, str], ...]:
    s = session.settings
    t = s.thresholds
    pairs = [
        ("as_of", as_of.isoformat() if as_of else "no dates"),
        ("level", s.level),
        ("mode", mode or "n/a (no dates)"),
        ("min_base", str(s.min_base)),
        ("window", f"{s.window_days} days"),
        (
            "period",
            s.period
            + (f" (fiscal year from month {s.fiscal_year_start_month})" if s.fiscal_year_start_month != 1 else ""),
        ),
        ("pass_through_discount", f"{t.pass_through_discount:g}"),
        ("forced_bundle_share", f"{t.forced_bundle_share:g}"),
        ("premature_days", str(t.premature_days)),
        ("early_churn_days", str(t.early_churn_days)),
        ("where", " and ".join(f"{c}={v}" for c, v in s.where) if s.where else "(none)"),
        ("curves_by", curves_by or "(all accounts only)"),
        ("whitespace_top", str(top)),
    ]
    if s.currency:
        pairs.append(("currency", s.currency))
    if session.config_path is not None:
        pairs.append(("config", _shown_path(session.config_path)))
    if s.profile:
        pairs.append(("profile", s.profile))
    return tuple(pairs)


__all__ = [
    "CURVE_GROUPS",
    "MATRIX_ITEMS",
    "TOP_WHITESPACE",
    "WHITESPACE_ROWS",
    "Report",
    "report",
    "source_name",
    "whitespace_work",
]
