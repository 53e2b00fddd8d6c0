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
        typer.Option("--data", "-d", help="Folder with line_items / accounts / products files.", rich_help_panel=INPUT),
    ],
    "line_items": Annotated[
        Path | None,
        typer.Option("--line-items", help="Line items file (CSV, Parquet, XLSX).", rich_help_panel=INPUT),
    ],
    "accounts": Annotated[Path | None, typer.Option("--accounts", help="Accounts file.", rich_help_panel=INPUT)],
    "products": Annotated[Path | None, typer.Option("--products", help="Products file.", rich_help_panel=INPUT)],
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
        typer.Option("--encoding", help="Text encoding of CSV inputs (e.g. cp1252, utf-16).", rich_help_panel=INPUT),
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
    "format": Annotated[str | None, typer.Option("--format", "-f", help=_FORMAT_HELP, rich_help_panel=OUTPUT)],
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


def _common_parameters(names: tuple[str, ...] = _COMMON_NAMES) -> list[inspect.Parameter]:
    return [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=False if name in _FLAGS else None,
            annotation=_COMMON_OPTIONS[name],
        )
        for name in names
    ]


def _merge(global_opts: Common | None, local: dict[str, Any]) -> Common:
    """Options given after the command win over the same options given before it."""
    base = global_opts or Common()
    values: dict[str, Any] = {
        name: local.get(name) if local.get(name) is not None else getattr(base, name) for name in _COMMON_NAMES
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


def command(
    name: str | None = None, *, options: tuple[str, ...] = _COMMON_NAMES, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command that also accepts the common ``options`` and runs inside the error boundary."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        own = [p for p in signature.parameters.values() if p.name != "opts"]
        ctx_param = inspect.Parameter("_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(fn)
        def wrapper(*args: Any, _ctx: typer.Context, **values: Any) -> Any:
            local = {k: values.pop(k, None) for k in options}
            parent = _ctx.obj
            opts = _merge(parent if isinstance(parent, Common) else None, local)
            return _guarded(opts, lambda: fn(*args, opts=opts, **values))

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*own, ctx_param, *_common_parameters(options)]
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
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a Rust panic in Polars is a BaseException, not an Exception
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

    def model(self, book: Any, *, apply_where: bool = True) -> Any:
        from . import session

        return session.model(self.session, book, apply_where=apply_where)

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


# Polars allocates through jemalloc, which by default keeps freed pages for ten seconds
# before handing them back: a run's peak RSS then counts every intermediate frame it has
# already dropped. Returning "muzzy" pages at once and dirty ones after 100 ms keeps the
# peak near the live data (-25 to -30% on the benchmark book) at no measurable cost. Set
# before Polars loads; an explicit setting in the environment wins.
MALLOC_CONF = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")


def main() -> None:
    """Console entry point."""
    os.environ.setdefault(*MALLOC_CONF)
    try:
        app()
    except BrokenPipeError:  # pragma: no cover - raised while flushing at exit
        _silence_stdout()
        sys.exit(0)


# The commands register themselves on ``app`` when their module is imported.
from . import commands  # noqa: E402,F401
