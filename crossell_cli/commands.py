"""The commands: each parses its own options, calls the library and hands a frame to render.

Registered on the Typer app from ``cli.py``; the docstring of each is its ``--help``.
Polars and the metrics are imported inside the functions so ``--help`` stays fast.
"""

# No ``from __future__ import annotations``: Typer reads these annotations at runtime.

import datetime as dt
import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli import Common, Run, _stderr, command
from .errors import ExitCode


@command()
def validate(*, opts: Common) -> int:
    """List every rejected row and warning, with the reason and the fix.

    One row per problem: table, file, row, column, header, value, rule, severity (rejected or warning) and a message saying how to fix it. Exits 65 when any row is rejected, else 0. Row numbers count data rows: row 1 is the first row under the header (spreadsheet row 2).

    Example:

        xsell validate --data exports/ -o rejects.csv
    """
    from . import checks, render

    run = Run(opts)
    book = run.load()
    issues = checks.all_issues(book, run.report)
    summary = checks.table_summary(run.report, issues)
    notes = checks.summary_lines(summary, run.report)
    run.emit(render.Output(issues, "Rejected rows and warnings", notes=tuple(notes)))
    run.account()
    return int(ExitCode.DATA) if run.report.rejected else 0


@command()
def attach(
    base: Annotated[
        str | None, typer.Option("--base", help="Only pairs with this base family: one row per target.")
    ] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="A × B grid of attach rates.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Show pairs below min_base too.")] = False,
    min_base: Annotated[
        int | None,
        typer.Option(
            "--min-base",
            min=1,
            help="Hide pairs whose base has fewer customers (config min_base, default 10).",
        ),
    ] = None,
    exclude_bundles: Annotated[bool, typer.Option("--exclude-bundles", help="Drop forced-bundle pairs.")] = False,
    *,
    opts: Common,
) -> int:
    """Attach rates: of the customers who own family A, the share who also own B.

    One row per ordered pair (A, B) at the as-of date: base_accounts, both_accounts, attach_rate with a 95% Wilson interval, target_rate, lift, and how the both-owners got there (co_booked, cross_sold_after, before; cross_sell_attach = cross_sold_after / base). Pairs whose base has fewer than min_base customers are hidden unless --all.

    Example:

        xsell attach --data sample_data
        xsell attach --data sample_data --base Core --where segment=Enterprise
        xsell attach --data sample_data --matrix -o attach.xlsx
    """
    import polars as pl

    from . import render
    from .metrics import attach as attach_metric

    run = Run(opts, min_base=min_base)
    book = run.load()
    model = run.model(book)
    settings = run.settings
    if model is None:
        run.emit(render.Output(_empty_pairs(), "Attach rates", notes=("no dated won line: nothing to measure",)))
        run.account()
        return 0
    from .metrics.flags import forced_bundles

    bundles = forced_bundles(model, share=settings.thresholds.forced_bundle_share, min_lines=settings.min_base)
    items = model.items()
    bases: list[str] | None = None
    if base is not None:
        base = _resolve_item(base, items, model.level)
        bases = [base]
    elif matrix:  # a grid: every cell, zeros included
        eligible = items if show_all else items.filter(pl.col("owners") >= settings.min_base)
        bases = eligible["item"].to_list()
    pairs, head = attach_metric.attach_plan(
        model,
        forced_bundles=bundles,
        min_base=None if show_all else settings.min_base,
        bases=bases,
    )
    # The full list stays a lazy plan: a file output streams it.
    shown: Any = attach_metric.visible_pairs(
        pairs, min_base=settings.min_base, show_all=show_all, base=base, exclude_bundles=exclude_bundles
    )
    if bases is not None:
        shown = shown.collect()
    notes = [
        _settings_line(
            model,
            settings,
            extra=f"min_base {settings.min_base}" + ("" if not show_all else " (--all)"),
        ),
        _headline_line(head, model.level),
    ]
    small = items.filter(pl.col("owners") < settings.min_base).height if base is None else 0
    if small and not show_all:
        noun = "families" if model.level == "family" else "products"
        notes.append(
            f"pairs from {small} {noun} with fewer than {settings.min_base} customers are hidden; --all shows them"
        )
    if not bundles.is_empty():
        listed = ", ".join(f"{a} → {b}" for a, b in bundles.select("base_family", "family").iter_rows())
        notes.append(
            f"forced bundle{'s' if bundles.height > 1 else ''} (flag column): {listed}"
            + ("; dropped by --exclude-bundles" if exclude_bundles else "; --exclude-bundles drops them")
        )
    if base is not None and isinstance(shown, pl.DataFrame) and shown.is_empty() and not show_all:
        notes.append(f"{base} has fewer than {settings.min_base} customers; --all shows its pairs anyway")
    if matrix and isinstance(shown, pl.DataFrame):
        frame = attach_metric.matrix(shown)
        title = "Attach rate matrix (row = base, column = target)"
    else:
        frame = shown
        title = f"Attach rates{' from ' + base if base else ''}"
    view: tuple[str, ...] = ()
    if not matrix:
        view = _ATTACH_VIEW if not bundles.is_empty() and not exclude_bundles else _ATTACH_VIEW[:-1]
    output = render.Output(
        frame, title, notes=tuple(notes), kinds=_matrix_kinds(frame) if matrix else {}, table_columns=view
    )
    run.emit(output, as_of=model.as_of)
    run.account()
    return 0


@command(options=("output", "quiet", "debug"))
def sample(
    accounts_n: Annotated[int, typer.Option("--accounts", "-n", min=1, help="Number of accounts.")] = 4000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed: same seed, same bytes.")] = 7,
    families: Annotated[
        int,
        typer.Option("--families", min=8, max=200, help="Number of product families (benchmarks use 40)."),
    ] = 10,
    *,
    opts: Common,
) -> int:
    """Write a realistic synthetic book (the one in sample_data/) into the -o folder.

    accounts.csv, products.csv and line_items.csv in the canonical columns, plus planted.csv listing the gaming patterns planted in it. Segments, regions, reps, tiered families, multi-line contracts, churn, contraction, discounts, lost deals: every command has something true to show. Same seed, same bytes.

    Example:

        xsell sample --accounts 2000 --seed 7 -o sample_data
    """
    from .sample import SampleSpec, write_sample

    if not opts.output or opts.output == "-":
        from .errors import UsageError

        raise UsageError("give the target folder with -o DIR", hint="xsell sample -o sample_data")
    folder = Path(opts.output)
    written = write_sample(folder, SampleSpec(accounts=accounts_n, seed=seed, families=families))
    if not opts.quiet:
        _stderr(f"wrote {', '.join(str(p) for p in written)}")
    return 0


# ---------------------------------------------------------------------------------------
# helpers for the commands


def _settings_line(model: Any, settings: Any, extra: str = "") -> str:
    dated = not model.dateless
    when = f"as of {model.as_of.isoformat()}" if dated else "no dates (a wide export: ownership as exported)"
    parts = [when, f"level {model.level}"]
    if settings.where:
        parts.append("where " + " and ".join(f"{c}={v}" for c, v in settings.where))
    if extra:
        parts.append(extra)
    return "settings: " + " · ".join(parts)


def _headline_line(head: Any, level: str) -> str:
    noun = "families" if level == "family" else "products"
    if not head.customers:
        return "no customers at the as-of date"
    return (
        f"{head.customers:,} customers · multi-product rate {head.multi_product_rate * 100:.1f}% "
        f"(own 2+ {noun}) · {head.items_per_customer:.2f} {noun} per customer"
    )


def _resolve_item(name: str, universe: Any, level: str) -> str:
    from .errors import DataError

    items: list[str] = sorted(universe["item"].to_list())
    if name in items:
        return name
    folded = {i.lower(): i for i in items}
    if name.lower() in folded:
        return folded[name.lower()]
    import difflib

    close = difflib.get_close_matches(name, items, n=3, cutoff=0.4)
    noun = "family" if level == "family" else "product"
    raise DataError(
        f"--base {name}: no {noun} of that name",
        hint=("did you mean " + " or ".join(repr(c) for c in close) + "? ")
        if close
        else f"known: {', '.join(items[:20])}",
    )


_ATTACH_VIEW = (
    "base_family",
    "target_family",
    "base_accounts",
    "both_accounts",
    "attach_rate",
    "ci_low",
    "ci_high",
    "lift",
    "cross_sell_attach",
    "flag",
)


def _matrix_kinds(frame: Any) -> dict[str, str]:
    return {c: "rate" for c in frame.columns if c not in ("base_family", "base_accounts")}


def _empty_pairs() -> Any:
    import polars as pl

    from .metrics.attach import PAIR_COLUMNS

    return pl.DataFrame(schema={c: pl.String for c in PAIR_COLUMNS})


# ---------------------------------------------------------------------------------------
# whitespace, expansion, timing, retention, summary


def _choice(value: str | None, option: str, choices: tuple[str, ...]) -> str | None:
    from .errors import UsageError

    if value is not None and value not in choices:
        raise UsageError(f"{option} {value}: choose one of {', '.join(choices)}")
    return value


def _dateless(model: Any, run: Any, command: str) -> bool:
    """True (after saying so) when the export has no dates and ``command`` needs them."""
    if not model.dateless:
        return False
    _stderr(
        f"{command} needs dates, and this export has none (one row per account saying who owns what): "
        "attach, whitespace and summary's multi-product rate work on it"
    )
    run.account()
    return True


def _no_model_note() -> str:
    return "no won line with a date on or before the as-of date: nothing to measure"


def _nothing_to_measure(run: Any, title: str, columns: tuple[str, ...] = ()) -> int:
    """No model (no won line by T): an empty result with the columns and why, then the account line."""
    import polars as pl

    from . import render

    frame = pl.DataFrame(schema={c: pl.String for c in columns})
    run.emit(render.Output(frame, title, notes=(_no_model_note(),)))
    run.account()
    return 0


@command()
def whitespace(
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="One account: its account_id or an unambiguous account_name.")
    ] = None,
    top: Annotated[int | None, typer.Option("--top", "-n", min=1, help="Only the N most valuable rows.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="family: one row per family (non-owners, whitespace value).")
    ] = None,
    min_base: Annotated[
        int | None,
        typer.Option(
            "--min-base", min=1, help="Segment evidence needs this many base customers (config min_base, default 10)."
        ),
    ] = None,
    *,
    opts: Common,
) -> int:
    """Whitespace: the families each customer does not own yet, scored, valued and explained.

    score = the highest attach rate into the family from a family the account owns (in its segment when that base has min_base customers, else across the book); expected_value = score × the family's typical ARR (median won line in the segment, else overall, else list price); reason says which evidence won; rank 1 is the account's most valuable next product. Forced-bundle pairs are never evidence; unsellable families never appear. --where chooses which accounts are listed; the evidence always comes from the whole book.

    Example:

        xsell whitespace --data sample_data --account A-000042
        xsell whitespace --data sample_data --where segment=Enterprise --top 20
        xsell whitespace --data sample_data --by family
    """
    import polars as pl

    from . import render
    from .metrics import flags as flags_metric
    from .metrics import whitespace as ws
    from .model import apply_where

    _choice(by, "--by", ("family",))
    run = Run(opts, min_base=min_base)
    book = run.load()
    model = run.model(book, apply_where=False)
    settings = run.settings
    if model is None:
        return _nothing_to_measure(run, "Whitespace", ws.COLUMNS)
    listed = apply_where(book, settings.where).accounts if settings.where else None
    forced = flags_metric.forced_bundles(
        model, share=settings.thresholds.forced_bundle_share, min_lines=settings.min_base
    )
    notes = [_settings_line(model, settings, extra=f"min_base {settings.min_base}")]
    if not forced.is_empty():
        pairs = ", ".join(f"{a} → {b}" for a, b in forced.select("base_family", "family").iter_rows())
        notes.append(f"forced bundles not used as evidence: {pairs}")
    plan = functools.partial(ws.whitespace_plan, model, min_base=settings.min_base, forced_pairs=forced)
    title = "Whitespace"
    rows: Any
    if account is not None:
        customers = model.ownership().select("account_id").collect()
        account_id = _resolve_account(account, book.accounts, customers)
        only = pl.DataFrame({"account_id": [account_id]})
        listed = only if listed is None else listed.join(only, on="account_id", how="semi")
        rows = plan(accounts=listed).collect()
        title = f"Whitespace for {account_id}"
        if rows.is_empty():
            notes.append(f"{account_id} owns no family at {model.as_of}, or already owns every sellable one")
    elif by == "family":
        rows = plan(accounts=listed)
    else:
        # The whole book, largest expected value first: a lazy plan the writer streams.
        rows = plan(accounts=listed, order="value", top=top)
    if by == "family":
        rows = ws.by_family(rows)
        title += " by family"
    if top is not None and (by == "family" or account is not None):
        rows = rows.head(top)
    run.emit(render.Output(rows, title, notes=tuple(notes)), as_of=model.as_of)
    run.account()
    return 0


def _resolve_account(text: str, accounts: Any, rows: Any) -> str:
    """account_id (exact, Salesforce 15/18 aware) or an unambiguous account name (any case)."""
    import difflib

    import polars as pl

    from .errors import DataError
    from .parse import normalize_id

    wanted = normalize_id(text)
    ids: list[str] = accounts["account_id"].to_list()
    known = set(ids) | set(rows["account_id"].to_list())
    if wanted in known:
        return wanted
    named = accounts.filter(pl.col("account_name").str.to_lowercase() == text.strip().lower())
    if named.height == 1:
        return str(named["account_id"][0])
    names = [n for n in accounts["account_name"].drop_nulls().to_list()]
    if named.height > 1:
        raise DataError(
            f"--account {text}: {named.height} accounts have that name",
            hint="use the account_id: " + ", ".join(named["account_id"].head(5).to_list()),
        )
    close = difflib.get_close_matches(text, names + ids, n=5, cutoff=0.6)
    raise DataError(
        f"--account {text}: no account with that id or name",
        hint=("close matches: " + ", ".join(close)) if close else "check the id in the accounts table",
    )


@command()
def expansion(
    period: Annotated[str | None, typer.Option("--period", "-p", help="month, quarter (default) or year.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="rep, segment, family or region.")] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="auto (default: arr when the export has end dates), bookings or arr.")
    ] = None,
    *,
    opts: Common,
) -> int:
    """Expansion: won revenue per period split into new, cross-sell and upsell (and, with end dates, reactivation, contraction and churn).

    Bookings mode (no end dates): each won line is new (land bundle), cross_sell (booked on the day of the account's first purchase of that family) or upsell. ARR mode (end dates): ARR snapshots on each period's last day (the last period ends on the as-of date); between snapshots an account goes 0 → >0 (new, or reactivation if it had ARR before), >0 → 0 (churn), or per family: new family (cross_sell), re-bought or grown (upsell), shrunk (contraction). ARR_end − ARR_start = the sum of the movements, for every account and period. expansion = cross_sell + upsell; cross_sell_share = cross_sell / expansion.

    Example:

        xsell expansion --data sample_data
        xsell expansion --data sample_data --period year --by segment
        xsell expansion --data sample_data --mode bookings -o expansion.csv
    """
    import polars as pl

    from . import render
    from .metrics import expansion as exp
    from .metrics.periods import Calendar

    _choice(period, "--period", ("month", "quarter", "year"))
    _choice(by, "--by", ("rep", "segment", "family", "region"))
    _choice(mode, "--mode", ("auto", "bookings", "arr"))
    run = Run(opts, period=period, mode=mode)
    book = run.load()
    model = run.model(book)
    settings = run.settings
    calendar = Calendar(settings.period, settings.fiscal_year_start_month)
    if model is None:
        return _nothing_to_measure(run, "Expansion")
    if _dateless(model, run, "expansion"):
        return 0
    chosen = settings.mode if settings.mode != "auto" else ("arr" if model.has_end_dates() else "bookings")
    from .metrics.flags import pass_through_lines

    t = settings.thresholds
    pass_through = (
        pass_through_lines(model, discount=t.pass_through_discount).select("line_id", "account_id", "item").collect()
    )
    frame = exp.expansion(model, mode=chosen, calendar=calendar, by=by, pass_through_lines=pass_through)  # type: ignore[arg-type]
    fiscal = (
        f" (fiscal year starts in month {settings.fiscal_year_start_month})"
        if settings.fiscal_year_start_month != 1
        else ""
    )
    notes = [_settings_line(model, settings, extra=f"mode {chosen} · period {settings.period}{fiscal}")]
    revenue = ("new", "cross_sell", "upsell", "reactivation", "cross_sell_pass_through")
    won = frame.select(pl.sum_horizontal([pl.col(c).fill_null(0).sum() for c in revenue])).item()
    cross = frame["cross_sell"].sum()
    if won:
        notes.append(
            f"cross-sell is {cross / won:.1%} of all won revenue ({cross:,.0f} of {won:,.0f}) over these periods"
        )
    if chosen == "bookings":
        notes.append("bookings mode: amounts are won lines booked in each period (no end dates, so no churn)")
    if not pass_through.is_empty():
        notes.append(
            f"{pass_through.height} pass-through cross-sell line(s) (≥ {t.pass_through_discount:.0%} off list) are in "
            "cross_sell_pass_through, not cross_sell — see 'xsell flags'"
        )
    run.emit(
        render.Output(frame, f"Expansion by {settings.period}" + (f" and {by}" if by else ""), notes=tuple(notes)),
        as_of=model.as_of,
    )
    run.account()
    return 0


@command()
def timing(
    by: Annotated[
        str | None, typer.Option("--by", help="land_family, cross_family, pair, segment or cohort (land quarter).")
    ] = None,
    premature_days: Annotated[
        int | None,
        typer.Option(
            "--premature-days",
            min=0,
            help="A cross-sell this soon after land is premature (config premature_days, default 90).",
        ),
    ] = None,
    early_churn_days: Annotated[
        int | None,
        typer.Option(
            "--early-churn-days", min=1, help="A cross-sold family gone this soon churned early (default 180)."
        ),
    ] = None,
    *,
    opts: Common,
) -> int:
    """Time to cross-sell: days from land to the first cross-sell, with Kaplan–Meier shares that count the accounts still waiting.

    Columns: accounts_landed, accounts_cross_sold, median / p25 / p75 / p90 days among the cross-sold (linear interpolation), within_90d / 180d / 365d and km_median_days from a Kaplan–Meier estimate in which accounts not yet cross-sold are censored at the as-of date, and premature_cross_sells (within premature_days of land) with their early-churn rate next to the other cross-sells'. "Within N days" means ≤ N days.

    Example:

        xsell timing --data sample_data
        xsell timing --data sample_data --by cohort
        xsell timing --data sample_data --by pair --format csv
    """

    from . import render
    from .metrics import timing as timing_metric
    from .metrics.periods import Calendar

    _choice(by, "--by", ("land_family", "cross_family", "pair", "segment", "cohort"))
    run = Run(opts, premature_days=premature_days, early_churn_days=early_churn_days)
    book = run.load()
    model = run.model(book)
    settings = run.settings
    if model is None:
        return _nothing_to_measure(run, "Time to cross-sell")
    if _dateless(model, run, "timing"):
        return 0
    frame = timing_metric.timing(
        model,
        by=by,  # type: ignore[arg-type]
        calendar=Calendar("quarter", settings.fiscal_year_start_month),
        premature_days=settings.thresholds.premature_days,
        early_churn_days=settings.thresholds.early_churn_days,
    )
    t = settings.thresholds
    notes = [
        _settings_line(
            model,
            settings,
            extra=f"premature ≤ {t.premature_days} days · early churn ≤ {t.early_churn_days} days",
        ),
        "within_Nd and km_median_days are Kaplan–Meier estimates: accounts not yet cross-sold count as waiting until the as-of date",
    ]
    run.emit(
        render.Output(
            frame, "Time to cross-sell" + (f" by {by}" if by else ""), notes=tuple(notes), table_columns=_TIMING_VIEW
        ),
        as_of=model.as_of,
    )
    run.account()
    return 0


_TIMING_VIEW = (
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


@command()
def retention(
    window: Annotated[
        str | None,
        typer.Option("--window", help="Look-back from the as-of date, e.g. 365d, 26w, 12m, 1y (default 365d)."),
    ] = None,
    *,
    opts: Common,
) -> int:
    """Retention by number of families owned: do multi-product customers stay (and grow) more?

    Cohort: accounts with ARR on the window start S = as-of − window, grouped by the families they owned on S (1, 2, 3+, all): accounts, start_arr, end_arr (same accounts on the as-of date), logo_retention (share still paying), grr = Σ min(ARR_T, ARR_S) / Σ ARR_S, nrr = end_arr / start_arr. Needs end dates (a subscription or billing export); without them it says so and exits 0.

    Example:

        xsell retention --data sample_data
        xsell retention --data sample_data --window 2y --where segment=SMB
    """
    from . import render
    from .metrics import retention as retention_metric

    run = Run(opts, window=window)
    book = run.load()
    settings = run.settings
    model = run.model(book)
    if model is None:
        _stderr(_no_model_note())
        run.account()
        return 0
    if _dateless(model, run, "retention"):
        return 0
    if not model.has_end_dates():
        _stderr(
            "retention needs end dates (a subscription or billing export): no won line in this export has an "
            "end date, so nobody can be seen to leave"
        )
        run.account()
        return 0
    frame = retention_metric.retention(model, window_days=settings.window_days)
    start = model.as_of - dt.timedelta(days=settings.window_days)
    notes = [_settings_line(model, settings, extra=f"window {settings.window_days} days: {start} → {model.as_of}")]
    run.emit(render.Output(frame, "Retention by families owned", notes=tuple(notes)), as_of=model.as_of)
    run.account()
    return 0


@command()
def summary(
    window: Annotated[
        str | None, typer.Option("--window", help="Window for the rates, e.g. 365d (default), 90d, 1y.")
    ] = None,
    *,
    opts: Common,
) -> int:
    """Summary: the cross-sell KPIs next to published good ranges, with the settings that produced them.

    cross_sell_rate (customers with a cross-sell in the window / customers; good 15–30%), multi_product_rate (customers owning 2+ families; 40–60%), cross_sell_revenue_share (cross-sell / all won revenue booked in the window; 20–40%), median_days_to_cross_sell (Kaplan–Meier median; 180–365 days), cross_sell_win_rate (won / (won + lost) cross-sell lines closed in the window, needs a stage column; 30–50%).

    Example:

        xsell summary --data sample_data
        xsell summary --data sample_data --window 90d --where region=EMEA
    """

    from . import render
    from .metrics import summary as summary_metric

    run = Run(opts, window=window)
    book = run.load()
    model = run.model(book)
    settings = run.settings
    if model is None:
        return _nothing_to_measure(run, "Summary", summary_metric.COLUMNS)
    frame = summary_metric.summary(
        model,
        window_days=settings.window_days,
        has_stage="stage" in book.present,
        premature_days=settings.thresholds.premature_days,
        early_churn_days=settings.thresholds.early_churn_days,
    )
    mode = "arr" if model.has_end_dates() else "bookings"
    notes = [_settings_line(model, settings, extra=f"window {settings.window_days} days · export mode {mode}")]
    kinds = {"value": "rate", "good_low": "rate", "good_high": "rate"}
    run.emit(
        render.Output(
            frame,
            "Cross-sell summary",
            notes=tuple(notes),
            kinds=kinds,
            row_kinds={"median_days_to_cross_sell": "days"},
        ),
        as_of=model.as_of,
    )
    run.account()
    return 0


# ---------------------------------------------------------------------------------------
# flags


@command()
def flags(
    flag: Annotated[
        list[str] | None,
        typer.Option(
            "--flag",
            help="Only this flag (repeatable): pass_through, forced_bundle, early_churn, premature, rep_concentration, price_erosion.",
        ),
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="Only findings at or above: high, medium or low.")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="rep: per rep, cross-sells, flagged, share flagged and flagged value.")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding at or above this severity (high, medium, low) is shown: for cron alerts.",
        ),
    ] = None,
    pass_through_discount: Annotated[
        float | None,
        typer.Option(
            "--pass-through-discount",
            min=0.0,
            max=1.0,
            help="A cross-sell this far below list is a pass-through (config, default 0.9).",
        ),
    ] = None,
    forced_bundle_share: Annotated[
        float | None,
        typer.Option(
            "--forced-bundle-share",
            min=0.0,
            max=1.0,
            help="Share of B's lines on A's deals that makes a forced bundle (default 0.95).",
        ),
    ] = None,
    early_churn_days: Annotated[
        int | None,
        typer.Option(
            "--early-churn-days", min=1, help="A cross-sold family gone this soon churned early (default 180)."
        ),
    ] = None,
    premature_days: Annotated[
        int | None,
        typer.Option("--premature-days", min=0, help="A cross-sell this soon after land is premature (default 90)."),
    ] = None,
    min_base: Annotated[
        int | None,
        typer.Option(
            "--min-base",
            min=1,
            help="Forced bundles and price erosion need this many lines (config min_base, default 10).",
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Price erosion compares the two halves of this window (default 365d)."),
    ] = None,
    *,
    opts: Common,
) -> int:
    """Flags: the cross-sells that are not what they seem — pass-through discounts, forced bundles, early churn, premature pitches, rep concentration, price erosion.

    One row per finding: flag, severity, line_id, account_id, family, base_family, product_id, rep, contract_id, booked_at, amount, list_amount, discount, detail; sorted by severity, then amount. pass_through (high): a cross-sell priced at ≤ 10% of list on the same deal as another family. forced_bundle (medium): family B sold on A's deals in ≥ 95% of its lines. early_churn (medium): a cross-sold family gone within 180 days. premature (low): a cross-sell within 90 days of land. rep_concentration (medium): a rep whose share of flagged cross-sells is ≥ 2× the book's (≥ 3 lines). price_erosion (medium): attach up while realized price fell ≥ 20% across the window's halves. Findings never change the exit code unless --fail-on is given: then exit 1 when a shown finding is at or above that severity.

    Example:

        xsell flags --data sample_data
        xsell flags --data sample_data --flag pass_through --by rep
        xsell flags --data exports/ --fail-on high -q -o reports/flags-{as_of}.csv
    """

    from . import render
    from .metrics import flags as flags_metric

    for name in flag or []:
        _choice(name, "--flag", flags_metric.FLAGS)
    _choice(severity, "--severity", tuple(flags_metric.SEVERITY))
    _choice(fail_on, "--fail-on", tuple(flags_metric.SEVERITY))
    _choice(by, "--by", ("rep",))
    run = Run(
        opts,
        pass_through_discount=pass_through_discount,
        forced_bundle_share=forced_bundle_share,
        early_churn_days=early_churn_days,
        premature_days=premature_days,
        min_base=min_base,
        window=window,
    )
    book = run.load()
    model = run.model(book)
    settings = run.settings
    if model is None:
        return _nothing_to_measure(run, "Flags", flags_metric.FLAG_COLUMNS)
    if _dateless(model, run, "flags"):
        return 0
    t = settings.thresholds
    flag_settings = flags_metric.FlagSettings(
        pass_through_discount=t.pass_through_discount,
        forced_bundle_share=t.forced_bundle_share,
        early_churn_days=t.early_churn_days,
        premature_days=t.premature_days,
        min_base=settings.min_base,
        window_days=settings.window_days,
    )
    findings = flags_metric.filter_findings(flags_metric.flags(model, flag_settings), names=flag, severity=severity)
    notes = [
        _settings_line(
            model,
            settings,
            extra=(
                f"pass-through ≥ {t.pass_through_discount:.0%} off · forced bundle ≥ {t.forced_bundle_share:.0%} · "
                f"early churn ≤ {t.early_churn_days} days · premature ≤ {t.premature_days} days · "
                f"min_base {settings.min_base} · window {settings.window_days} days"
            ),
        )
    ]
    counts = findings.group_by("flag").len().sort("flag")
    if not findings.is_empty():
        notes.append("findings: " + ", ".join(f"{n} {f}" for f, n in counts.iter_rows()))
    if by == "rep":
        frame = flags_metric.by_rep(model, flag_settings)
        run.emit(render.Output(frame, "Flagged cross-sells by rep", notes=tuple(notes)), as_of=model.as_of)
    else:
        run.emit(render.Output(findings, "Flags", notes=tuple(notes), table_columns=_FLAGS_VIEW), as_of=model.as_of)
    run.account()
    if flags_metric.fails(findings, fail_on):
        if opts.quiet:
            _stderr(f"{findings.height} finding(s); --fail-on {fail_on} matched")
        return int(ExitCode.FINDINGS)
    return 0


_FLAGS_VIEW = ("flag", "severity", "account_id", "family", "rep", "booked_at", "amount", "detail")


@command(options=("format", "output", "quiet", "debug"))
def profiles(*, opts: Common) -> int:
    """List the built-in export profiles: the header names and value conventions of a CRM or billing system.

    A profile maps a system's own export headers (Opportunity.AccountId, hs_arr, price.unit_amount…), stage values and units onto xsell's columns with no hand work. Use one with --profile NAME (or profile: in xsell.yaml); the config's columns: mapping still wins. Profiles are YAML files: copy one, edit it, and pass its path to --profile.

    Example:

        xsell profiles
        xsell --profile salesforce attach --data ~/Downloads/export/
    """
    import polars as pl

    from . import render
    from .profiles import available, load_profile

    rows = []
    for name, path in available().items():
        profile = load_profile(name)
        rows.append({"profile": name, "description": profile.get("description", ""), "file": str(path)})
    frame = pl.DataFrame(rows, schema={"profile": pl.String, "description": pl.String, "file": pl.String})
    written = render.emit(render.Output(frame, "Export profiles"), fmt=opts.format, path=opts.output, inputs=[])
    if written and not opts.quiet:
        _stderr(f"wrote {written}")
    return 0
