"""xsell summary: the cross-sell KPIs next to published good ranges."""

from __future__ import annotations

from ..metrics import summary as metric
from ..model import MONEY_COLUMNS
from .answer import Answer, Shown, empty, settings_line
from .session import Collected, Plan, Session


def summary(session: Session) -> Answer:
    settings = session.settings
    model, ingested = session.facts(MONEY_COLUMNS, stages=True)
    t = settings.thresholds
    parts = metric.summary_parts(
        model, window_days=settings.window_days, premature_days=t.premature_days, early_churn_days=t.early_churn_days
    )
    sides = {**parts, "end_dates": model.has_end_dates}

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            return Shown(
                ("no won line with a date on or before the as-of date: nothing to measure",),
                frame=empty(metric.COLUMNS),
            )
        frame = metric.summary(
            {k: got[k] for k in parts},
            window_days=settings.window_days,
            has_stage=model.has_stage,
            dateless=model.dateless,
            level=model.level,
        )
        mode = "arr" if got.scalar("end_dates") else "bookings"
        extra = f"window {settings.window_days} days · export mode {mode}"
        notes = [settings_line(settings, got.as_of, dateless=model.dateless, level=model.level, extra=extra)]
        caveat = metric.caveat_of({k: got[k] for k in parts}, level=model.level, dateless=model.dateless)
        if caveat is not None:
            notes.append(f"status '{caveat[0]}': {caveat[1]}")
        return Shown(tuple(notes), frame=frame)

    kinds = {"value": "rate", "good_low": "rate", "good_high": "rate"}
    return Answer(
        "Cross-sell summary",
        Plan(sides=sides, model=model, ingested=ingested),
        finish,
        kinds=kinds,
        row_kinds={"median_days_to_cross_sell": "days"},
        streamable=False,
        level=model.level,
    )
