"""ReportData fixtures for the report tests, built from the golden CSVs (no loader, no metrics).

The golden outputs under tests/golden are today's `xsell` results on sample_data and on
ravenstack, so the page is drawn from real numbers. Two things the CSVs do not hold
are made here: the Kaplan–Meier curve (from durations shaped like each timing row's
quartiles, see `durations_like`) and, for ARR mode, opening/closing ARR (the running
sum of the movements, which start from nothing in both books).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from crossell_cli.report import ReportData
from crossell_cli.report.fmt import column_kind

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden"
MOVEMENTS = ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn", "cross_sell_pass_through")
_TEXT = {
    "products_owned": pl.String,
    "period": pl.String,
    "line_id": pl.String,
    "account_id": pl.String,
    "contract_id": pl.String,
    "product_id": pl.String,
    "flag": pl.String,
    "status": pl.String,
}


def golden(book: str, name: str) -> pl.DataFrame:
    """A golden CSV with the dtypes the metrics produce (dates as dates, all-empty numbers as floats)."""
    path = GOLDEN / book / name
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    overrides = {c: t for c, t in _TEXT.items() if c in header}
    frame = pl.read_csv(path, try_parse_dates=True, schema_overrides=overrides)
    casts = [
        pl.col(c).cast(pl.Float64)
        for c in frame.columns
        if frame.schema[c] == pl.String
        and c not in overrides
        and column_kind(c) not in ("text", "date")
        and frame.get_column(c).null_count() == frame.height
    ]
    return frame.with_columns(casts) if casts else frame


def kaplan_meier(durations: Iterable[tuple[str, float, bool]]) -> pl.DataFrame:
    """The KM table per group: one row per distinct time, S(t) just after t (events before censorings)."""
    rows: list[dict[str, object]] = []
    by_group: dict[str, list[tuple[float, bool]]] = {}
    for group, days, event in durations:
        by_group.setdefault(group, []).append((days, event))
    for group, items in by_group.items():
        survival = 1.0
        at_risk = len(items)
        for time in sorted({d for d, _ in items}):
            events = sum(1 for d, e in items if d == time and e)
            censored = sum(1 for d, e in items if d == time and not e)
            survival *= 1.0 - events / at_risk
            rows.append(
                {
                    "group": group,
                    "days": time,
                    "survival": survival,
                    "at_risk": at_risk,
                    "events": events,
                    "censored": censored,
                }
            )
            at_risk -= events + censored
    schema = {
        "group": pl.String,
        "days": pl.Float64,
        "survival": pl.Float64,
        "at_risk": pl.Int64,
        "events": pl.Int64,
        "censored": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _interpolate(knots: Sequence[tuple[float, float]], u: float) -> float:
    for (u0, t0), (u1, t1) in itertools.pairwise(knots):
        if u <= u1:
            return t0 + (t1 - t0) * (u - u0) / (u1 - u0) if u1 > u0 else t1
    return knots[-1][1]


def durations_like(group: str, row: dict[str, object], follow_up: float) -> list[tuple[str, float, bool]]:
    """Deterministic durations whose cross-sold quartiles are the timing row's; the rest censored.

    Not the book's real durations (the golden CSVs do not hold them): a plausible curve
    with the right counts, so the page has something true-shaped to draw.
    """
    landed = int(row["accounts_landed"])  # type: ignore[call-overload]
    sold = int(row["accounts_cross_sold"])  # type: ignore[call-overload]
    out: list[tuple[str, float, bool]] = []
    if sold:
        p25, p50, p75, p90 = (float(row[k]) for k in ("p25_days", "median_days", "p75_days", "p90_days"))  # type: ignore[arg-type]
        knots = [
            (0.0, max(p25 * 0.72, 1.0)),
            (0.25, p25),
            (0.5, p50),
            (0.75, p75),
            (0.9, p90),
            (1.0, min(p90 * 2.2, follow_up)),
        ]
        out += [(group, float(round(_interpolate(knots, (i + 0.5) / sold))), True) for i in range(sold)]
    waiting = landed - sold
    out += [(group, float(round(20 + (follow_up - 20) * (i + 0.5) / waiting)), False) for i in range(waiting)]
    return out


def _with_arr(expansion: pl.DataFrame) -> pl.DataFrame:
    """Opening and closing ARR as the running sum of the movements (both books start empty)."""
    change = pl.sum_horizontal([pl.col(c).fill_null(0.0) for c in MOVEMENTS])
    closing = change.cum_sum()
    return expansion.with_columns(closing.shift(1, fill_value=0.0).alias("opening_arr"), closing.alias("closing_arr"))


def matrix_items(attach: pl.DataFrame) -> pl.DataFrame:
    """item, customers: the attach matrix's items, from pairs that hold every ordered pair."""
    return (
        attach.group_by(pl.col("base_family").alias("item"))
        .agg(pl.col("base_accounts").max().cast(pl.Int64).alias("customers"))
        .sort(["customers", "item"], descending=[True, False])
    )


def _timing_groups(overall: pl.DataFrame, by: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([overall, by.rename({by.columns[0]: "group"})], how="vertical_relaxed")


def sample_report() -> ReportData:
    """sample_data as of 2025-12-31: end dates, so ARR mode; KM curves for 'all' and each land family."""
    timing = _timing_groups(golden("sample", "timing.csv"), golden("sample", "timing-land-family.csv"))
    durations: list[tuple[str, float, bool]] = []
    for row in timing.iter_rows(named=True):
        durations += durations_like(str(row["group"]), row, follow_up=1400.0)
    return ReportData(
        version="0.1.0",
        as_of=dt.date(2025, 12, 31),
        title="Cross-sell report: sample_data",
        settings=(
            ("as_of", "2025-12-31"),
            ("level", "family"),
            ("mode", "arr"),
            ("min_base", "10"),
            ("window", "365 days"),
            ("period", "quarter"),
            ("pass_through_discount", "0.9"),
            ("forced_bundle_share", "0.95"),
            ("premature_days", "90"),
            ("early_churn_days", "180"),
            ("where", "(none)"),
        ),
        level="family",
        mode="arr",
        min_base=10,
        row_account=pl.read_csv(HERE / "sample_row_account.csv"),
        summary=golden("sample", "summary.csv"),
        attach=golden("sample", "attach-all.csv"),
        # every one of the 90 ordered pairs of the 10 families is co-owned: attach --all is the grid
        attach_matrix=golden("sample", "attach-all.csv"),
        attach_items=matrix_items(golden("sample", "attach-all.csv")),
        expansion=_with_arr(golden("sample", "expansion.csv")),
        timing=timing,
        km_curve=kaplan_meier(durations),
        retention=golden("sample", "retention.csv"),
        whitespace_top=golden("sample", "whitespace-top-20.csv"),
        whitespace_by_family=golden("sample", "whitespace-by-family.csv"),
        flags=golden("sample", "flags.csv"),
        flags_by_rep=golden("sample", "flags-by-rep.csv"),
        notes=(
            "Fixture: the Kaplan–Meier curves are drawn from durations shaped like the timing quartiles, not the book's own.",
            "Amounts are annualised recurring value in one currency.",
        ),
        # what `xsell expansion --data sample_data --format table` notes: ARR added day by day
        cross_sell_share=(48772637.8, 393394225.6),
        end_dates=True,
    )


def ravenstack_report() -> ReportData:
    """ravenstack as of 2024-12-31: one family, so no attach, whitespace or flags; nobody cross-sold."""
    timing = _timing_groups(golden("ravenstack", "timing.csv"), golden("ravenstack", "timing-cohort.csv"))
    durations: list[tuple[str, float, bool]] = []
    for index, row in enumerate(timing.iter_rows(named=True)):
        # cohort k landed about k quarters after 2023-Q1, so it has been followed for less time
        follow_up = 730.0 if row["group"] == "all" else 730.0 - 91.0 * (index - 1)
        durations += durations_like(str(row["group"]), row, follow_up=follow_up)
    empty = {
        "whitespace_by_family": pl.DataFrame(
            schema={
                "family": pl.String,
                "non_owners": pl.Int64,
                "whitespace_value": pl.Float64,
                "mean_score": pl.Float64,
            }
        ),
        "flags_by_rep": pl.DataFrame(
            schema={
                "rep": pl.String,
                "cross_sells": pl.Int64,
                "flagged": pl.Int64,
                "share_flagged": pl.Float64,
                "flagged_value": pl.Float64,
            }
        ),
    }
    return ReportData(
        version="0.1.0",
        as_of=dt.date(2024, 12, 31),
        title="Cross-sell report: ravenstack",
        settings=(
            ("as_of", "2024-12-31"),
            ("level", "family"),
            ("mode", "arr"),
            ("min_base", "10"),
            ("window", "365 days"),
        ),
        level="family",
        mode="arr",
        min_base=10,
        row_account=pl.read_csv(HERE / "ravenstack_row_account.csv"),
        summary=golden("ravenstack", "summary.csv"),
        attach=golden("ravenstack", "attach.csv"),
        attach_matrix=golden("ravenstack", "attach.csv"),
        attach_items=matrix_items(golden("ravenstack", "attach.csv")),
        expansion=_with_arr(golden("ravenstack", "expansion.csv")),
        timing=timing,
        km_curve=kaplan_meier(durations),
        retention=golden("ravenstack", "retention.csv"),
        whitespace_top=golden("ravenstack", "whitespace-top-20.csv"),
        whitespace_by_family=empty["whitespace_by_family"],
        flags=golden("ravenstack", "flags.csv"),
        flags_by_rep=empty["flags_by_rep"],
        end_dates=True,
    )


def bookings_report() -> ReportData:
    """sample_data read as a CRM export (no end dates): bookings-mode expansion, no retention."""
    base = sample_report()
    bookings = golden("sample", "expansion-bookings.csv")
    won = ("new", "cross_sell", "upsell", "cross_sell_pass_through")
    return ReportData(
        **{
            **base.__dict__,
            "title": "Cross-sell report: sample_data (bookings)",
            "mode": "bookings",
            "expansion": bookings,
            "retention": None,
            "end_dates": False,
            # as `xsell expansion` counts it in bookings mode: won revenue over every period
            "cross_sell_share": (
                float(bookings["cross_sell"].sum()),
                float(bookings.select(pl.sum_horizontal([pl.col(c).fill_null(0).sum() for c in won])).item()),
            ),
        }
    )


def empty_report() -> ReportData:
    """Every frame empty (a book whose lines are all after the as-of date)."""
    base = sample_report()
    return ReportData(
        version=base.version,
        as_of=base.as_of,
        title="Cross-sell report: nothing yet",
        settings=base.settings,
        level="family",
        mode="bookings",
        min_base=10,
        row_account=base.row_account.clear(),
        summary=base.summary.clear(),
        attach=base.attach.clear(),
        attach_matrix=base.attach_matrix.clear(),
        attach_items=base.attach_items.clear(),
        expansion=golden("sample", "expansion-bookings.csv").clear(),
        timing=base.timing.clear(),
        km_curve=base.km_curve.clear(),
        retention=None,
        whitespace_top=base.whitespace_top.clear(),
        whitespace_by_family=base.whitespace_by_family.clear(),
        flags=base.flags.clear(),
        flags_by_rep=base.flags_by_rep.clear(),
    )
