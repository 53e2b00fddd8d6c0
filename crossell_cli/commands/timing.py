"""xsell timing: days from land to the first cross-sell, with Kaplan–Meier shares."""

from __future__ import annotations

from ..metrics import timing as metric
from ..metrics.periods import Calendar
from ..model import CORE_COLUMNS
from .answer import Answer, Shown, dateless_message, nothing_to_measure, settings_line
from .session import Collected, Plan, Session

VIEW = (
    "group",
    "segment",
    "cohort",
    "land_family",
    "cross_family",
    "pair",
    "accounts_landed",
    "accounts_cross_sold",
    "median_days",
    "within_90d",
    "within_180d",
    "within_365d",
    "km_median_days",
    "premature_cross_sells",
    "premature_early_churn_rate",
    "other_early_churn_rate",
)


def timing(session: Session, *, by: str | None = None) -> Answer:
    settings = session.settings
    model, ingested = session.facts(CORE_COLUMNS)
    if model.dateless:
        return Answer("", Plan(model=model, ingested=ingested), lambda _got: Shown(message=dateless_message("timing")))
    t = settings.thresholds
    frame = metric.timing(
        model,
        by=by,  # type: ignore[arg-type]
        calendar=Calendar("quarter", settings.fiscal_year_start_month),
        premature_days=t.premature_days,
        early_churn_days=t.early_churn_days,
    )

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            return nothing_to_measure(frame)
        notes = [
            settings_line(
                settings,
                got.as_of,
                dateless=model.dateless,
                level=model.level,
                extra=f"premature ≤ {t.premature_days} days · early churn ≤ {t.early_churn_days} days",
            ),
            "within_Nd and km_median_days are Kaplan–Meier estimates: accounts not yet cross-sold count as waiting "
            "until the as-of date; a within_Nd is empty where no account of the group was followed N days (unless "
            "all of them were cross-sold sooner)",
        ]
        if not got.scalar("end_dates"):
            notes.append(
                "early-churn rates are empty: no won line booked on or before the as-of date has an end date, so "
                "nobody can be seen to leave "
                "(0% would be a guess)"
            )
        return Shown(tuple(notes))

    title = "Time to cross-sell" + (f" by {by}" if by else "")
    plan = Plan(main=frame, sides={"end_dates": model.has_end_dates}, model=model, ingested=ingested)
    return Answer(title, plan, finish, table_columns=VIEW, streamable=False, level=model.level)
