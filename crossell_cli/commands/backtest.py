"""xsell backtest: rank as of a cutoff with the data up to it, score against what came after."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from ..metrics import backtest as metric
from ..metrics import choice
from ..metrics import whitespace as ws
from ..model import MONEY_COLUMNS, Model
from .answer import Answer, Shown, dateless_message, empty, settings_line
from .session import Collected, Plan, Session
from .whitespace import fit_cached, forced_frame

COLUMNS = ("model", *metric.METRICS, "accounts")


def backtest(
    session: Session,
    *,
    cutoff: dt.date | None,
    horizon_days: int,
    active_days: int | None,
    use_cache: bool = True,
) -> Answer:
    settings = session.settings
    # The whole book up to T: the truth window needs the lines after the cutoff.
    book_model, ingested = session.facts(MONEY_COLUMNS, apply_where=False)
    if book_model.dateless:
        return Answer(
            "", Plan(model=book_model, ingested=ingested), lambda _got: Shown(message=dateless_message("backtest"))
        )
    last = ingested.as_of
    if last is None:
        return Answer(
            "Backtest",
            Plan(main=empty(COLUMNS).lazy(), model=book_model, ingested=ingested),
            lambda _got: Shown(message="no won line with a date: nothing to backtest"),
        )
    cut = cutoff if cutoff is not None else last - dt.timedelta(days=horizon_days)
    # The model as of the cutoff, read as `xsell whitespace --as-of CUTOFF` reads it: account
    # attributes from lines up to the cutoff, nothing later.
    at_cut = dataclasses.replace(session, settings=dataclasses.replace(settings, as_of=cut))
    model, _ = at_cut.facts(MONEY_COLUMNS, apply_where=False)
    frame, facts = _evaluate(
        at_cut, model, book_model, cut=cut, horizon_days=horizon_days, active_days=active_days, use_cache=use_cache
    )

    def finish(got: Collected) -> Shown:
        end = cut + dt.timedelta(days=horizon_days)
        active = f" · candidates sold in the {active_days} days before" if active_days is not None else ""
        extra = (
            f"cutoff {cut} · horizon {horizon_days}d (truth: first purchases in {cut} < day ≤ {end}){active} · "
            f"{facts['customers']} customers, {facts['evaluated']} evaluated (bought something new) · "
            f"ties by item name · 95% intervals: {metric.BOOT_N} bootstrap resamples of the accounts, "
            f"seed {metric.BOOT_SEED}"
        )
        notes = [settings_line(settings, last, dateless=False, level=model.level, extra=extra)]
        if end > last:
            notes.append(f"the horizon ends {end}, after the book's last date {last}: truth is cut short")
        return Shown(tuple(notes))

    plan = Plan(main=frame.lazy(), model=book_model, ingested=ingested)
    return Answer("Backtest", plan, finish, streamable=False, level=model.level)


def _evaluate(
    session: Session,
    model: Model,
    book_model: Model,
    *,
    cut: dt.date,
    horizon_days: int,
    active_days: int | None,
    use_cache: bool,
) -> tuple[pl.DataFrame, dict[str, int]]:
    settings = session.settings
    owned = model.ownership.collect()
    customers = owned.select("account_id").unique().sort("account_id")
    won_to_cut = model.won.select("account_id", "item", "booked_at").collect()
    sellable = ws.sellable_items(model).collect().rename({"family": "item"})
    cands = metric.candidates(customers, owned, sellable, won_to_cut, cutoff=cut, active_days=active_days)
    every_won = book_model.won.select("account_id", "item", "booked_at").collect()
    truth = metric.truth(every_won, customers, cutoff=cut, horizon_days=horizon_days)
    popularity = owned.group_by("item").agg(pl.len().cast(pl.Float64).alias("score"))
    scores: dict[str, pl.DataFrame] = {
        "popularity": cands.join(popularity, on="item", how="left").with_columns(pl.col("score").fill_null(0.0)),
    }
    # The models learn and score exactly the items ranked: with --active-days the recently sold
    # ones (as the research harness fits it), not the whole catalogue. Only the evaluated
    # accounts are scored; the evidence and the fit still come from every customer.
    ranked = metric.ranked_items(sellable, won_to_cut, cutoff=cut, active_days=active_days)["item"].to_list()
    evaluated = truth["account_id"].unique().sort().to_list()
    fitted = fit_cached(
        session,
        model,
        horizon_days=horizon_days,
        use_cache=use_cache,
        ranked=ranked if active_days is not None else None,
    )
    forced = forced_frame(fitted, model, session)
    scores["attach_baseline"] = (
        ws.attach_baseline(model, min_base=settings.min_base, forced=forced, ranked=ranked, only=evaluated)
        .rename({"family": "item"})
        .collect()
    )
    # The scores `xsell whitespace` lists, without the evidence behind its reasons.
    if fitted is None:
        scores["whitespace"] = cands.head(0).with_columns(pl.lit(0.0).alias("score"))
    else:
        lines = model.won.filter(pl.col("account_id").is_in(evaluated)).select(choice.LINE_COLUMNS).collect()
        scored = choice.score(fitted, lines, ws.segments(model), evidence=False)
        scores["whitespace"] = scored.select("account_id", pl.col("family").alias("item"), "score")
    per = {name: metric.per_account(s, cands, truth) for name, s in scores.items()}
    facts = {"customers": customers.height, "evaluated": per["popularity"].height}
    return metric.table(per), facts
