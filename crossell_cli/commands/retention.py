"""xsell retention: logo retention, GRR and NRR by the number of families owned."""

from __future__ import annotations

import datetime as dt

from ..metrics import retention as metric
from ..model import ARR_COLUMNS
from .answer import Answer, Shown, dateless_message, settings_line
from .session import Collected, Plan, Session


def retention(session: Session) -> Answer:
    settings = session.settings
    model, ingested = session.facts(ARR_COLUMNS)
    if model.dateless:
        return Answer(
            "", Plan(model=model, ingested=ingested), lambda _got: Shown(message=dateless_message("retention"))
        )
    frame = metric.retention(model, window_days=settings.window_days)
    if model.end_dates_known() is False:
        frame = frame.clear()  # the answer is the message below: nothing to compute

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            return Shown(message="no won line with a date on or before the as-of date: nothing to measure")
        if not got.scalar("end_dates"):
            return Shown(
                message="retention needs end dates (a subscription or billing export): no won line booked on or "
                "before the as-of date has an end date, so nobody can be seen to leave"
            )
        start = got.as_of - dt.timedelta(days=settings.window_days)
        extra = f"window {settings.window_days} days: {start} → {got.as_of}"
        return Shown((settings_line(settings, got.as_of, dateless=model.dateless, level=model.level, extra=extra),))

    plan = Plan(main=frame, sides={"end_dates": model.has_end_dates}, model=model, ingested=ingested)
    title = "Retention by families owned" if model.level == "family" else "Retention by products owned"
    return Answer(title, plan, finish, streamable=False, level=model.level)
