"""xsell expansion: won revenue per period, new / cross-sell / upsell (and the ARR movements)."""

from __future__ import annotations

from typing import cast

import polars as pl

from ..metrics import expansion as metric
from ..metrics.flags import pass_through_lines
from ..metrics.periods import Calendar
from ..model import MONEY_COLUMNS, ROW
from .answer import Answer, Shown, dateless_message, nothing_to_measure, settings_line
from .session import Collected, Plan, Session


def expansion(session: Session, *, by: str | None = None, with_notes: bool = True) -> Answer:
    """``with_notes``: the output shows notes (a table or an xlsx): only then is the share of
    ARR added counted (day by day, a second pass over the lines in memory)."""
    settings = session.settings
    # (the lines' money and dates; the pass-through flag's line id and list value; reps only by rep)
    columns = (*MONEY_COLUMNS, "line_id", "list_amount", *(("rep", ROW) if by == "rep" else ()))
    model, ingested = session.facts(columns)
    if model.dateless:
        return Answer(
            "", Plan(model=model, ingested=ingested), lambda _got: Shown(message=dateless_message("expansion"))
        )
    calendar = Calendar(settings.period, settings.fiscal_year_start_month)
    t = settings.thresholds
    pass_through = pass_through_lines(model, discount=t.pass_through_discount).select("line_id", "account_id", "item")
    modes = metric.modes_to_build(settings.mode, model.end_dates_known() if settings.mode == "auto" else None)
    group = cast("metric.GroupBy | None", by)
    added = with_notes and "arr" in modes
    # The ARR bridge and the day-by-day count read one grouping and sort of the lines.
    days = metric.arr_days(model, calendar).cache() if added else None
    plans = {
        mode: metric.expansion(
            model, mode=mode, calendar=calendar, by=group, pass_through_lines=pass_through, days=days
        )
        for mode in modes
    }
    sides = {f"mode_{mode}": plan for mode, plan in plans.items()}
    sides["end_dates"] = model.has_end_dates
    sides["pass_through"] = pass_through.select(pl.len())
    if added:
        sides["added"] = metric.arr_added(model, pass_through_lines=pass_through, days=days)

    def finish(got: Collected) -> Shown:
        if got.as_of is None:
            return nothing_to_measure(next(iter(plans.values())))
        chosen = settings.mode if settings.mode != "auto" else ("arr" if got.scalar("end_dates") else "bookings")
        frame = got[f"mode_{chosen}"]
        fiscal = (
            f" (fiscal year starts in month {settings.fiscal_year_start_month})"
            if settings.fiscal_year_start_month != 1
            else ""
        )
        notes = [
            settings_line(
                settings,
                got.as_of,
                dateless=model.dateless,
                level=model.level,
                extra=f"mode {chosen} · period {settings.period}{fiscal}",
            )
        ]
        if chosen == "arr":
            if "added" in got.frames:
                cross, added = (float(v or 0.0) for v in got["added"].row(0))
                if added:
                    notes.append(
                        f"cross-sell is {cross / added:.1%} of ARR added ({cross:,.0f} of {added:,.0f} added by new, "
                        "reactivation, cross-sell, upsell and pass-through cross-sell movements, counted day "
                        "by day: the same for every --period)"
                    )
            if by != "rep":
                notes.append(
                    "opening_arr + new + reactivation + cross_sell + upsell + contraction + churn "
                    "+ cross_sell_pass_through = closing_arr, per row"
                )
        else:
            revenue = ("new", "cross_sell", "upsell", "cross_sell_pass_through")
            won = float(frame.select(pl.sum_horizontal([pl.col(c).fill_null(0).sum() for c in revenue])).item())
            cross = float(frame["cross_sell"].sum())
            if won:
                share = f"{cross / won:.1%} of all won revenue ({cross:,.0f} of {won:,.0f})"
                notes.append(f"cross-sell is {share} over these periods")
            notes.append("bookings mode: amounts are won lines booked in each period (no end dates, so no churn)")
        if by is not None and frame.height and (frame[by] == metric.NO_GROUP).all():
            whose = "line has a rep" if by == "rep" else f"account has a {by}"
            notes.append(f"no {whose}: every row is the '{metric.NO_GROUP}' group, the same as no --by")
        if chosen == "arr" and by == "rep":
            notes.append(
                "opening_arr and closing_arr are empty by rep: a family's ARR goes to the rep of its latest line, "
                "and that hand-over is not a movement, so a rep's bridge would not add up"
            )
        flagged = got.scalar("pass_through") or 0
        if flagged:
            notes.append(
                f"{flagged} pass-through cross-sell line(s) (≥ {t.pass_through_discount:.0%} off list) are in "
                "cross_sell_pass_through, not cross_sell — see 'xsell flags'"
            )
        # A person reads a bridge left to right: opening, the movements, closing.
        keys = ("period", *((by,) if by else ()))
        if chosen == "arr" and by != "rep":
            view = (
                *keys,
                "opening_arr",
                *metric.MOVEMENTS,
                "cross_sell_pass_through",
                "closing_arr",
                "expansion",
                "cross_sell_share",
            )
        else:
            view = (
                *keys,
                "new",
                "cross_sell",
                "upsell",
                "expansion",
                "cross_sell_share",
                "contraction",
                "churn",
                "reactivation",
            )
        return Shown(tuple(notes), frame=frame, table_columns=view)

    title = f"Expansion by {settings.period}" + (f" and {by}" if by else "")
    plan = Plan(sides=sides, model=model, ingested=ingested)
    return Answer(title, plan, finish, streamable=False, level=model.level)
