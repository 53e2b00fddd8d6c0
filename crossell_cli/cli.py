"""The Typer app: parse options, call the library, hand frames to render, map errors to exit codes.

Heavy modules (Polars, the metrics) are imported inside the commands so that
``xsell --help`` starts as fast as Typer itself.
"""

# No ``from __future__ import annotations`` here: Typer reads these annotations at runtime.

import datetime as dt
import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import ExitCode, XsellError

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 --fail-on findings · 2 usage error · 65 bad input data · "
    "66 input missing · 70 internal error (a bug: please report it) · 73 cannot write output · "
    "78 bad config."
)

app = typer.Typer(
    name="xsell",
    help=(
        "Cross-sell analytics for RevOps: attach rates, whitespace, expansion, time to "
        "cross-sell and gamed deals, from CRM and billing exports.\n\n"
        "Point it at a folder holding line_items.csv (and optionally accounts.csv, "
        "products.csv):\n\n"
        "    xsell attach --data sample_data\n\n" + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ---------------------------------------------------------------------------------------
# Options every command accepts, before or after the command name (declared once)

INPUT = "Input"
ANALYSIS = "Analysis"
OUTPUT = "Output"

_FORMAT_HELP = "table | csv | json | jsonl | parquet | xlsx (default: table on a terminal, csv in a pipe)"


@dataclass(frozen=True)
class Common:
    data: Path | None = None
    line_items: Path | None = None
    accounts: Path | None = None
    products: Path | None = None
    config: Path | None = None
    profile: str | None = None
    encoding: str | None = None
    as_of: str | None = None
    where: list[str] | None = None
    level: str | None = None
    format: str | None = None
    output: str | None = None
    strict: bool = False
    quiet: bool = False
    debug: bool = False


_COMMON_OPTIONS: dict[str, Any] = {
    "data": Annotated[
        Path | None,
        typer.Option(
            "--data", "-d", help="Folder with line_items / accounts / products files.", rich_help_panel=INPUT
        ),
    ],
    "line_items": Annotated[
        Path | None,
        typer.Option("--line-items", help="Line items file (CSV, Parquet, XLSX).", rich_help_panel=INPUT),
    ],
    "accounts": Annotated[
        Path | None, typer.Option("--accounts", help="Accounts file.", rich_help_panel=INPUT)
    ],
    "products": Annotated[
        Path | None, typer.Option("--products", help="Products file.", rich_help_panel=INPUT)
    ],
    "config": Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default ./xsell.yaml, then $XSELL_CONFIG).",
            rich_help_panel=INPUT,
        ),
    ],
    "profile": Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Export profile: salesforce, hubspot, stripe or a .yaml path.",
            rich_help_panel=INPUT,
        ),
    ],
    "encoding": Annotated[
        str | None,
        typer.Option(
            "--encoding", help="Text encoding of CSV inputs (e.g. cp1252, utf-16).", rich_help_panel=INPUT
        ),
    ],
    "as_of": Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Measure as of this date (YYYY-MM-DD); default: the latest date in the data.",
            rich_help_panel=ANALYSIS,
        ),
    ],
    "where": Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            help="Keep accounts with column=value (repeatable; same column = any of).",
            rich_help_panel=ANALYSIS,
        ),
    ],
    "level": Annotated[
        str | None,
        typer.Option("--level", help="family (default) or product.", rich_help_panel=ANALYSIS),
    ],
    "format": Annotated[
        str | None, typer.Option("--format", "-f", help=_FORMAT_HELP, rich_help_panel=OUTPUT)
    ],
    "output": Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to PATH ('-' = stdout); {as_of} and {today} are filled in.",
            rich_help_panel=OUTPUT,
        ),
    ],
    "strict": Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail (exit 65) if any input row is rejected.",
            rich_help_panel=INPUT,
            show_default=False,
        ),
    ],
    "quiet": Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print nothing on stderr unless something is wrong.",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ],
    "debug": Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show Python tracebacks (for bug reports).",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ],
}
_COMMON_NAMES = tuple(f.name for f in fields(Common))


_FLAGS = ("strict", "quiet", "debug")


def _common_parameters() -> list[inspect.Parameter]:
    return [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if name in _FLAGS else None,
            annotation=_COMMON_OPTIONS[name],
        )
        for name in _COMMON_NAMES
    ]


def _merge(global_opts: Common | None, local: dict[str, Any]) -> Common:
    """Options given after the command win over the same options given before it."""
    base = global_opts or Common()
    values: dict[str, Any] = {
        name: local.get(name) if local.get(name) is not None else getattr(base, name)
        for name in _COMMON_NAMES
    }
    for flag in _FLAGS:
        values[flag] = bool(local.get(flag)) or getattr(base, flag)
    if base.where and local.get("where"):
        values["where"] = [*base.where, *local["where"]]
    return Common(**values)


@app.callback()
def _global(
    ctx: typer.Context,
    **kwargs: Any,
) -> None:
    values: dict[str, Any] = {k: kwargs.get(k) for k in _COMMON_NAMES}
    values.update({flag: bool(values[flag]) for flag in _FLAGS})
    ctx.obj = Common(**values)


_global.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *_common_parameters(),
    ]
)


# ---------------------------------------------------------------------------------------
# The error boundary: every command runs inside it


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report_error(err: XsellError) -> None:
    _stderr(f"Error: {err.message}")
    if err.hint:
        _stderr(f"  fix: {err.hint}")


def command(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command that also accepts the common options and runs inside the error boundary."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        own = [p for p in signature.parameters.values() if p.name != "opts"]
        ctx_param = inspect.Parameter("_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(fn)
        def wrapper(*args: Any, _ctx: typer.Context, **values: Any) -> Any:
            local = {k: values.pop(k, None) for k in _COMMON_NAMES}
            parent = _ctx.obj
            opts = _merge(parent if isinstance(parent, Common) else None, local)
            return _guarded(opts, lambda: fn(*args, opts=opts, **values))

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*own, ctx_param, *_common_parameters()]
        )
        app.command(name, **kwargs)(wrapper)
        return fn

    return decorate


def _guarded(opts: Common, body: Callable[[], Any]) -> Any:
    try:
        code = body()
    except XsellError as err:
        if opts.debug:
            traceback.print_exc()
        _report_error(err)
        raise typer.Exit(int(err.exit_code)) from None
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(0) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _stderr("Interrupted.")
        raise typer.Exit(130) from None
    except Exception as exc:
        if opts.debug:
            traceback.print_exc()
        else:
            _stderr(
                f"Internal error: {type(exc).__name__}: {exc}\n"
                "  This is a bug in xsell, not in your data. Run again with --debug and report the traceback."
            )
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    raise typer.Exit(int(code or 0))


def _silence_stdout() -> None:
    """After a broken pipe (`xsell attach | head -1`), stop Python from writing to it at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout is not a real file
        pass


# ---------------------------------------------------------------------------------------
# Shared steps of the commands


def _cli_values(opts: Common, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "data": opts.data,
        "line_items": opts.line_items,
        "accounts": opts.accounts,
        "products": opts.products,
        "profile": opts.profile,
        "encoding": opts.encoding,
        "as_of": opts.as_of,
        "where": opts.where,
        "level": opts.level,
        "strict": opts.strict,
    }
    values.update(extra)
    return values


class Run:
    """The steps every analysis command takes, with the one-line account at the end."""

    def __init__(self, opts: Common, **cli_extra: Any) -> None:
        from . import session
        from .errors import UsageError

        if opts.level is not None and opts.level not in ("family", "product"):
            raise UsageError(f"--level {opts.level}: choose family or product")
        self.opts = opts
        self.session = session.open_session(_cli_values(opts, **cli_extra), config=opts.config)
        self.settings = self.session.settings
        self.report: Any = None

    def load(self) -> Any:
        from . import session

        book, report = session.load(self.session)
        self.report = report
        if self.settings.strict and report.rejected:
            self.account()
            raise session.strict_failure(report)
        return book

    def model(self, book: Any) -> Any:
        from . import session

        return session.model(self.session, book)

    def emit(self, output: Any, *, as_of: dt.date | None = None) -> None:
        from . import render

        path = self.opts.output
        if path is not None:
            path = render.expand_path(path, as_of=as_of, today=dt.date.today())
        written = render.emit(output, fmt=self.opts.format, path=path, inputs=self.session.inputs)
        if written and not self.opts.quiet:
            _stderr(f"wrote {written}")

    def account(self) -> None:
        from . import session

        if self.report is None:
            return
        if self.opts.quiet and not self.report.rejected:
            return
        _stderr(session.account_line(self.report))


# ---------------------------------------------------------------------------------------
# Commands


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
    exclude_bundles: Annotated[
        bool, typer.Option("--exclude-bundles", help="Drop forced-bundle pairs.")
    ] = False,
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
    from . import render
    from .metrics import attach as attach_metric

    run = Run(opts, min_base=min_base)
    book = run.load()
    model = run.model(book)
    settings = run.settings
    if model is None:
        run.emit(
            render.Output(_empty_pairs(), "Attach rates", notes=("no dated won line: nothing to measure",))
        )
        run.account()
        return 0
    pairs, head = attach_metric.attach(model)
    if base is not None:
        base = _resolve_item(base, pairs, model.level)
    shown = attach_metric.visible_pairs(
        pairs, min_base=settings.min_base, show_all=show_all, base=base, exclude_bundles=exclude_bundles
    )
    notes = [
        _settings_line(
            model.as_of,
            model.level,
            settings,
            extra=f"min_base {settings.min_base}" + ("" if not show_all else " (--all)"),
        ),
        _headline_line(head, model.level),
    ]
    hidden = pairs.height - shown.height if base is None else 0
    if hidden and not show_all:
        notes.append(
            f"{hidden} pair(s) with fewer than {settings.min_base} base customers hidden; --all shows them"
        )
    if base is not None and shown.is_empty() and not show_all:
        notes.append(f"{base} has fewer than {settings.min_base} customers; --all shows its pairs anyway")
    if matrix:
        frame = attach_metric.matrix(shown)
        title = "Attach rate matrix (row = base, column = target)"
    else:
        frame = shown
        title = f"Attach rates{' from ' + base if base else ''}"
    view: tuple[str, ...] = ()
    if not matrix:
        view = _ATTACH_VIEW if frame["flag"].is_not_null().any() else _ATTACH_VIEW[:-1]
    output = render.Output(
        frame, title, notes=tuple(notes), kinds=_matrix_kinds(frame) if matrix else {}, table_columns=view
    )
    run.emit(output, as_of=model.as_of)
    run.account()
    return 0


@command()
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


def _settings_line(as_of: dt.date, level: str, settings: Any, extra: str = "") -> str:
    parts = [f"as of {as_of.isoformat()}", f"level {level}"]
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


def _resolve_item(name: str, pairs: Any, level: str) -> str:
    from .errors import DataError

    items: list[str] = sorted(set(pairs["base_family"].to_list()))
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


def main() -> None:
    """Console entry point."""
    try:
        app()
    except BrokenPipeError:  # pragma: no cover - raised while flushing at exit
        _silence_stdout()
        sys.exit(0)
