"""The Typer app: options, the error boundary (exit codes), and one short function per command.

Each command parses its options, asks the library for an Answer (``commands/``) and hands
it to ``_show``, which collects it once, renders it and prints the one-line row account.
Polars and the library are imported inside the functions, so ``xsell --help`` starts as
fast as Typer itself.
"""

# No ``from __future__ import annotations`` here: Typer reads these annotations at runtime.

import datetime as dt
import errno
import functools
import inspect
import io
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperCommand, TyperGroup

from . import __version__, progress
from .errors import ExitCode, OutputError, UsageError, XsellError

if TYPE_CHECKING:
    from .commands.answer import Answer, Shown
    from .commands.report import Report
    from .commands.session import Collected, Plan, Session
    from .render import Sink

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 --fail-on findings · 2 usage error · 65 bad input data · "
    "66 input missing · 70 internal error (a bug: please report it) · 73 cannot write output · "
    "78 bad config."
)


def _words_for_flags(command: Any, ctx: typer.Context) -> None:
    """Help placeholders in words: an on/off flag shows none (Typer would print the Python
    type, ``<bool>``), and a bounded number says its bounds after its word (``N ≥ 1``,
    ``SHARE 0–1``) instead of Click's ``[0.0<=x<=1.0]``. Only for the help being printed."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        if param.metavar and (low is not None or high is not None):
            if low is not None and high is not None:
                param.metavar += f" {low:g}–{high:g}"
            else:
                param.metavar += f" ≥ {low:g}" if low is not None else f" ≤ {high:g}"
            param.min = param.max = None


class _Command(TyperCommand):
    def format_help(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        _words_for_flags(self, ctx)
        super().format_help(ctx, formatter)


class _Group(TyperGroup):
    """The top-level command group, with Click's own errors (an unknown command or option, a
    missing value) said in xsell's one-line style, like every other error:

        Error: no command 'atach'. Did you mean 'attach'?
          fix: 'xsell -h' lists the commands

    and exit code 2 (a usage error), instead of Click's boxed panel."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError:  # `xsell` alone: the help is already printed
            sys.exit(int(ExitCode.USAGE))
        except ClickException as err:
            _stderr(f"Error: {_click_message(err)}")
            ctx = getattr(err, "ctx", None)
            if ctx is not None:
                what = "the commands" if ctx.command is self else "its options"
                _stderr(f"  fix: '{ctx.command_path} -h' lists {what}")
            sys.exit(int(ExitCode.USAGE))
        sys.exit(code if isinstance(code, int) else 0)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        _words_for_flags(self, ctx)
        super().format_help(ctx, formatter)


def _click_message(err: ClickException) -> str:
    message = err.format_message()
    if message.startswith("No such command"):
        return "no command" + message.removeprefix("No such command")
    return message[:1].lower() + message[1:]


app = typer.Typer(
    name="xsell",
    cls=_Group,
    help=(
        "Cross-sell analytics for RevOps: attach rates, whitespace, expansion, time to "
        "cross-sell and gamed deals, from CRM and billing exports.\n\n"
        "Point it at a folder holding line_items.csv (and optionally accounts.csv, "
        "products.csv):\n\n"
        "    xsell attach --data sample_data\n\n" + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ---------------------------------------------------------------------------------------
# Options every command accepts, before or after the command name (declared once)

INPUT, ANALYSIS, OUTPUT = "Input", "Analysis", "Output"


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
    wide: bool = False


def _values(*choices: str) -> Callable[[str], list[str]]:
    """Shell completion of an option's fixed values (``xsell timing --by <TAB>``)."""

    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


LEVELS = ("family", "product")
FORMATS = ("table", "csv", "json", "jsonl", "parquet", "xlsx")
SEVERITIES = ("high", "medium", "low")


def _flag_names(incomplete: str) -> list[str]:
    from .metrics.flags import FLAGS  # imports Polars: only when completing --flag

    return _values(*FLAGS)(incomplete)


def _option(*names: str, help: str, panel: str, **kwargs: Any) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, **kwargs)


_COMMON_OPTIONS: dict[str, Any] = {
    "data": Annotated[
        Path | None,
        _option("--data", "-d", help="Folder with line_items / accounts / products files.", panel=INPUT, metavar="DIR"),
    ],
    "line_items": Annotated[
        Path | None, _option("--line-items", help="Line items file (CSV, Parquet, XLSX).", panel=INPUT, metavar="FILE")
    ],
    "accounts": Annotated[Path | None, _option("--accounts", help="Accounts file.", panel=INPUT, metavar="FILE")],
    "products": Annotated[Path | None, _option("--products", help="Products file.", panel=INPUT, metavar="FILE")],
    "config": Annotated[
        Path | None,
        _option(
            "--config",
            "-c",
            help="Config file (default ./xsell.yaml, then $XSELL_CONFIG).",
            panel=INPUT,
            metavar="FILE",
        ),
    ],
    "profile": Annotated[
        str | None,
        _option(
            "--profile",
            help="Export profile: salesforce, hubspot, stripe or a .yaml path.",
            panel=INPUT,
            metavar="NAME",
        ),
    ],
    "encoding": Annotated[
        str | None,
        _option("--encoding", help="Text encoding of CSV inputs (e.g. cp1252, utf-16).", panel=INPUT, metavar="NAME"),
    ],
    "as_of": Annotated[
        str | None,
        _option(
            "--as-of",
            help="Measure as of this date (YYYY-MM-DD); default: the latest date of a closed (won or lost) line, "
            "so open pipeline dated later never moves it.",
            panel=ANALYSIS,
            metavar="DATE",
        ),
    ],
    "where": Annotated[
        list[str] | None,
        _option(
            "--where",
            "-w",
            help="Keep accounts with column=value (repeatable; same column = any of).",
            panel=ANALYSIS,
            metavar="COLUMN=VALUE",
        ),
    ],
    "level": Annotated[
        str | None,
        _option(
            "--level",
            help="family (default) or product.",
            panel=ANALYSIS,
            metavar="LEVEL",
            autocompletion=_values(*LEVELS),
        ),
    ],
    "format": Annotated[
        str | None,
        _option(
            "--format",
            "-f",
            help="table | csv | json | jsonl | parquet | xlsx (default: table on a terminal, csv in a pipe)",
            panel=OUTPUT,
            metavar="FORMAT",
            autocompletion=_values(*FORMATS),
        ),
    ],
    "output": Annotated[
        str | None,
        _option(
            "--output",
            "-o",
            help="Write to PATH ('-' = stdout); {as_of} and {today} are filled in.",
            panel=OUTPUT,
            metavar="PATH",
        ),
    ],
    "strict": Annotated[
        bool, _option("--strict", help="Fail (exit 65) if any input row is rejected.", panel=INPUT, show_default=False)
    ],
    "quiet": Annotated[
        bool,
        _option(
            "--quiet", "-q", help="Print nothing on stderr unless something is wrong.", panel=OUTPUT, show_default=False
        ),
    ],
    "wide": Annotated[
        bool,
        _option(
            "--wide",
            help="Tables: show every column at full width, even past the terminal's edge.",
            panel=OUTPUT,
            show_default=False,
        ),
    ],
    "debug": Annotated[
        bool, _option("--debug", help="Show Python tracebacks (for bug reports).", panel=OUTPUT, show_default=False)
    ],
}
_COMMON_NAMES = tuple(f.name for f in fields(Common))
_FLAGS = ("strict", "quiet", "debug", "wide")

# Options of several commands (declared once, used as annotations).
MinBase = Annotated[
    int | None,
    typer.Option(
        "--min-base", min=1, metavar="N", help="A base needs this many customers (config min_base, default 10)."
    ),
]
Window = Annotated[
    str | None,
    typer.Option(
        "--window", metavar="DAYS", help="Look-back from the as-of date, e.g. 365d, 26w, 12m, 1y (default 365d)."
    ),
]
PrematureDays = Annotated[
    int | None,
    typer.Option(
        "--premature-days",
        min=0,
        metavar="DAYS",
        help="A cross-sell this soon after land is premature (config premature_days, default 90).",
    ),
]
EarlyChurnDays = Annotated[
    int | None,
    typer.Option(
        "--early-churn-days",
        min=1,
        metavar="DAYS",
        help="A cross-sold family gone this soon churned early (default 180).",
    ),
]
PassThroughDiscount = Annotated[
    float | None,
    typer.Option(
        "--pass-through-discount",
        min=0.0,
        max=1.0,
        metavar="SHARE",
        help="A cross-sell this far below list is a pass-through (config, default 0.9).",
    ),
]
ForcedBundleShare = Annotated[
    float | None,
    typer.Option(
        "--forced-bundle-share",
        min=0.0,
        max=1.0,
        metavar="SHARE",
        help="Share of B's lines on A's deals that makes a forced bundle (default 0.95).",
    ),
]


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


def _version(value: bool) -> None:
    if value:
        print(f"xsell {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(ctx: typer.Context, **kwargs: Any) -> None:
    values: dict[str, Any] = {k: kwargs.get(k) for k in _COMMON_NAMES}
    values.update({flag: bool(values[flag]) for flag in _FLAGS})
    ctx.obj = Common(**values)


_global.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "version",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[
                bool,
                typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
            ],
        ),
        *_common_parameters(),
    ]
)


# ---------------------------------------------------------------------------------------
# The error boundary: every command runs inside it


def _stderr(message: str) -> None:
    progress.stop()  # the status line goes before anything else is said
    try:
        print(message, file=sys.stderr, flush=True)
    except BaseException as exc:
        if not _broken_pipe(exc):
            raise
        # `xsell … 2>&1 | head`: the reader of stderr went away too. The rest goes unsaid,
        # and the exit code is still the command's (validate's 65), not a broken pipe's 0.
        _silence(sys.stderr)


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
        app.command(name, cls=_Command, **kwargs)(wrapper)
        return fn

    return decorate


def _broken_pipe(exc: BaseException) -> bool:
    """The reader went away (`xsell attach | head -1`): Python's BrokenPipeError, or the plain
    OSError (errno EPIPE) that Polars' writers raise."""
    return (
        isinstance(exc, BrokenPipeError)
        or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)
        or ("Broken pipe" in str(exc) and not isinstance(exc, XsellError))
    )


# What a writer meets when the output's disk cannot take it. Polars' OSErrors carry the code
# only in their text: its own writers' ("No space left on device (os error 28)"), and that of
# a Python writer it called ("[Errno 28] No space left on device", stdout).
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _cannot_write(exc: OSError) -> bool:
    """A full (or read-only) disk under the output, as opposed to any other OSError."""
    code = exc.errno
    if code is None:
        found = re.search(r"\(os error (\d+)\)|^\[Errno (\d+)\]", str(exc))
        code = int(found.group(1) or found.group(2)) if found else None
    return code in _CANNOT_WRITE


def _write_failure(exc: BaseException) -> str | None:
    """What a write that the output's disk refused says (None: another failure): an OSError
    that ``_cannot_write``, or an error wrapping one (XlsxWriter's FileCreateError)."""
    cause = exc.args[0] if not isinstance(exc, OSError) and exc.args else exc
    if isinstance(cause, OSError) and _cannot_write(cause):
        return _plain(cause)
    return None


def _plain(exc: OSError) -> str:
    """'No space left on device', from Python's or Polars' way of saying it."""
    return exc.strerror or re.sub(r"^\[Errno \d+\] |\s*\(os error \d+\)$", "", str(exc))


def _guarded(opts: Common, body: Callable[[], Any]) -> Any:
    watching = progress.wanted(
        quiet=opts.quiet, output_to_file=opts.output not in (None, "-"), stdout=sys.stdout, stderr=sys.stderr
    )
    try:
        with progress.start(progress.Progress(enabled=watching)):
            code = body()
    except XsellError as err:
        if opts.debug:
            traceback.print_exc()
        _stderr(f"Error: {err.message}")
        if err.hint:
            _stderr(f"  fix: {err.hint}")
        raise typer.Exit(int(err.exit_code)) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _stderr("Interrupted.")
        raise typer.Exit(130) from None
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a Rust panic in Polars is a BaseException, not an Exception
        if _broken_pipe(exc):
            _silence_stdout()
            raise typer.Exit(0) from None
        full = _write_failure(exc)
        if full is not None:
            # A full disk under stdout (`xsell summary > out.csv` on a full disk), met by a
            # writer that is not the streamed sink or write_atomic, which say so themselves.
            where = "stdout" if opts.output in (None, "-") else opts.output
            _stderr(f"Error: cannot write {where}: {full}")
            raise typer.Exit(int(ExitCode.CANT_WRITE)) from None
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
    """After a broken pipe, stop Python from writing to it at exit."""
    _silence(sys.stdout)


def _silence(stream: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not a real file
        pass


# ---------------------------------------------------------------------------------------
# The shared steps: open the session, collect the answer once, render it, account for rows


def _session(opts: Common, *, lazy: bool = False, **overrides: Any) -> "Session":
    """The session of ``opts`` (``lazy``: see ``open_session``)."""
    from .commands.session import open_session

    if opts.level is not None and opts.level not in ("family", "product"):
        raise UsageError(
            f"--level {opts.level}: choose family or product",
            hint="--level family rolls products up to their family (the default); --level product keeps them apart",
        )
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
        **overrides,
    }
    progress.step("reading the inputs")
    session = open_session(values, config=opts.config, lazy=lazy)
    progress.step(_reading(session))
    return session


def _reading(session: "Session", verb: str = "reading") -> str:
    """'reading line_items.csv (45.6 MB), accounts.csv, products.csv', at most 76 characters."""
    names = []
    for table, source in session.settings.sources.items():
        name = source.path.name
        if table == "line_items" and source.path.is_file():
            name += f" ({source.path.stat().st_size / 1e6:.1f} MB)"
        names.append(name)
    text = f"{verb} " + ", ".join(names)
    return text if len(text) <= 76 else text[:75] + "…"


def _show(opts: Common, session: "Session", answer: "Answer") -> int:
    """Collect ``answer`` once (its long table streaming into the output when it can), render it,
    and print the row account on stderr."""
    from . import render
    from .commands.session import account_line, collect, nothing_used_failure, strict_failure

    tty = sys.stdout.isatty()
    path = opts.output
    plan = answer.plan
    if plan.ingested is not None:
        # The book is read: fail before anything is computed or written.
        counts = plan.ingested.counts
        failure = strict_failure(counts) if session.settings.strict else None
        failure = failure or nothing_used_failure(counts)
        if failure is not None:
            _stderr(account_line(plan.ingested.counts))
            raise failure
    streamed = answer.streamable and plan.main is not None and render.streams(opts.format, _placeholder(path), tty)
    sink = None
    if streamed:
        # {as_of} in the path needs T, which the collect computes: stream into today's name
        # only when the path has no placeholder for it.
        if path is not None and "{as_of}" in path:
            streamed = False
        else:
            target = render.expand_path(path, as_of=None, today=dt.date.today()) if path else None
            sink = render.sink(plan.main, fmt=opts.format, path=target, inputs=session.inputs)  # type: ignore[arg-type]
    if plan.ingested is None:  # the files are read in this collect (validate)
        progress.step(_reading(session, "checking"))
    else:
        progress.step(f"computing {answer.title[:1].lower()}{answer.title[1:]}" if answer.title else "computing")
    try:
        collected = collect(session, plan, sink=sink.plan if sink else None)
        shown = answer.finish(collected)
    except BaseException as exc:
        if sink is None:
            raise
        sink.abandon()
        if isinstance(exc, OSError) and _cannot_write(exc):
            # Polars writing the streamed output failed (a full disk): the output, not a bug
            where = target if path else "stdout"
            raise OutputError(f"cannot write {where}: {_plain(exc)}") from None
        raise
    account = account_line(collected.counts, see_validate=answer.see_validate)
    failure = strict_failure(collected.counts) if session.settings.strict else None
    if failure is not None:
        if sink is not None:
            sink.abandon()
        _stderr(account)
        raise failure
    written = None
    progress.stop()  # before the answer reaches the terminal
    try:
        written = _emit(opts, session, answer, collected, shown, sink, tty=tty)
    except BaseException as exc:
        if not _broken_pipe(exc):
            raise
        # The reader went away (`xsell … | head`): the output ends there; the row account and
        # the exit code (validate's 65, --fail-on's 1) are still what the data says.
        _silence_stdout()
    notes_shown = render.resolve_format(opts.format, path, tty) in ("table", "xlsx")
    if shown.message is None and shown.announce and not notes_shown and not opts.quiet:
        for line in shown.announce:
            _stderr(line)
    if written and not opts.quiet:
        _stderr(f"wrote {written}")
    if shown.alert and opts.quiet:
        _stderr(shown.alert)
    _ingest_warnings(opts, plan)
    if not opts.quiet or collected.rejected:
        _stderr(account)
    return shown.code


def _ingest_warnings(opts: Common, plan: "Plan") -> None:
    """What reading the book found about T (an --as-of past the data or before its first won
    line, a typo setting the default), on stderr before the row account."""
    if plan.ingested is not None and not opts.quiet:
        for line in plan.ingested.warnings:
            _stderr(line)


def _path_as_of(plan: "Plan", collected: "Collected") -> "dt.date | None":
    """T for an output path's {as_of}: none for a book without dates (its lines carry a
    placeholder day, 1970-01-01, that no file name should show)."""
    return None if plan.model is not None and plan.model.dateless else collected.as_of


def _emit(
    opts: Common,
    session: "Session",
    answer: "Answer",
    collected: "Collected",
    shown: "Shown",
    sink: "Sink | None",
    *,
    tty: bool,
) -> str | None:
    """Write what ``shown`` says: a message on stderr, the streamed file, or the table rendered
    now. Returns the path written, if any.

    A message said instead of a table (retention without end dates) still writes the table
    empty, header only, to a file or a machine format: a nightly ``-o retention.csv`` would
    otherwise keep yesterday's numbers, and ``-f json`` would print nothing that parses."""
    from . import render

    path = opts.output
    if shown.message is not None:
        if sink is not None:
            sink.abandon()
        _stderr(shown.message)
        main = answer.plan.main
        if main is None or render.resolve_format(opts.format, path, tty) == "table":
            return None
        import polars as pl

        # (an xlsx keeps the reason with the empty table, in its notes)
        shown = replace(shown, frame=pl.DataFrame(schema=main.collect_schema()), notes=(*shown.notes, shown.message))
        sink = None
    if sink is not None and shown.frame is None:
        return sink.finish()
    if sink is not None:
        sink.abandon()
    frame = shown.frame if shown.frame is not None else collected.main
    if frame is None:  # pragma: no cover - a command with a table always has a main frame or a shown one
        raise AssertionError("nothing to show")
    output = render.Output(
        frame,
        shown.title or answer.title,
        notes=(*shown.notes, *shown.announce),
        kinds=shown.kinds if shown.kinds is not None else answer.kinds,
        table_columns=shown.table_columns if shown.table_columns is not None else answer.table_columns,
        row_kinds=answer.row_kinds,
        header=shown.header,
        header_columns=shown.header_columns,
        level=answer.level,
    )
    as_of = _path_as_of(answer.plan, collected)
    target = render.expand_path(path, as_of=as_of, today=dt.date.today()) if path else None
    return render.emit(output, fmt=opts.format, path=target, inputs=session.inputs, wide=opts.wide)


def _with_notes(opts: Common) -> bool:
    """True when the output carries notes: a table, or an xlsx sheet (csv, json, parquet do not)."""
    from . import render

    return render.resolve_format(opts.format, opts.output, sys.stdout.isatty()) in ("table", "xlsx")


def _placeholder(path: str | None) -> str | None:
    return path.replace("{as_of}", "x").replace("{today}", "x") if path else path


def _choice(value: str | None, option: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise UsageError(f"{option} {value}: choose one of {', '.join(choices)}")
    return value


# ---------------------------------------------------------------------------------------
# The commands


@command()
def validate(*, opts: Common) -> int:
    """List every rejected row and warning, with the reason and the fix.

    One row per problem: table, file, row, column, header, value, rule, severity (rejected, warning or excluded) and a message saying how to fix it. Exits 65 when any row is rejected, else 0. Row numbers count data rows: row 1 is the first row under the header (spreadsheet row 2).

    Warnings are about rows that are used: orphans, negative amounts, end before start, exact duplicate rows (every cell repeats an earlier row; both are counted) and overlapping subscriptions (won lines of one product held at once by an account; ARR adds them up). The last two are also summed up on stderr, with an example, whatever the output format.

    Example:

        xsell validate --data exports/ -o rejects.csv
        xsell validate -c examples/ravenstack/xsell.yaml -o issues.csv
    """
    from .commands.validate import validate as build

    session = _session(opts)
    return _show(opts, session, build(session))


@command()
def attach(
    base: Annotated[
        str | None,
        typer.Option("--base", metavar="FAMILY", help="Only pairs with this base family: one row per target."),
    ] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="A × B grid of attach rates.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Show pairs below min_base too.")] = False,
    min_base: MinBase = None,
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
    from .commands.attach import attach as build

    session = _session(opts, min_base=min_base)
    answer = build(session, base=base, matrix=matrix, show_all=show_all, exclude_bundles=exclude_bundles)
    return _show(opts, session, answer)


@command()
def summary(
    window: Annotated[
        str | None, typer.Option("--window", metavar="DAYS", help="Window for the rates, e.g. 365d (default), 90d, 1y.")
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
    from .commands.summary import summary as build

    session = _session(opts, window=window)
    return _show(opts, session, build(session))


Horizon = Annotated[
    str | None,
    typer.Option(
        "--horizon",
        metavar="DAYS",
        help="The window the model learns to predict (and the backtest scores), e.g. 180d (default), 90d, 6m.",
    ),
]
NoCache = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Read the export and fit the whitespace model afresh, and keep nothing (default: reuse the cache).",
    ),
]


def _horizon(value: str | None) -> int:
    from .config import parse_window

    return parse_window(value, what="--horizon") if value else 180


@command()
def whitespace(
    account: Annotated[
        str | None,
        typer.Option(
            "--account", "-a", metavar="ID_OR_NAME", help="One account: its account_id or an unambiguous account_name."
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", "-n", min=1, metavar="N", help="Only the first N rows.")] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="family",
            help="family: one row per family (non-owners, whitespace value).",
            autocompletion=_values("family"),
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option("--sort", metavar="ORDER", help="score (default: most likely first) or value (expected_value)."),
    ] = None,
    horizon: Horizon = None,
    min_base: MinBase = None,
    no_cache: NoCache = False,
    *,
    opts: Common,
) -> int:
    """Whitespace: the families each customer does not own yet, scored, valued and explained.

    Every sellable family (product with --level product) a customer does not own at the as-of date, none left out. score = the probability that it is the next one the customer buys (given that it buys a new one: an account's scores add up to 1), from a model fitted on this book's own history (popularity, recent sales, cross-sell rates after the land bundle, item-to-item affinity, re-buys; see the README); expected_value = score × the family's typical ARR (median won line in the segment, else overall, else list price); reason gives the counts behind the evidence ("owns Core; 332 of 902 Mid-Market Core customers bought Analytics later (37%)"), from bases of at least min_base customers. Rows: score descending, then account_id, then family (--sort value: expected_value first); rank 1 is the account's most likely next family (--sort value: its largest expected_value). Forced-bundle pairs are never evidence; unsellable families never appear. --where chooses which accounts are listed; the evidence always comes from the whole book up to the as-of date. The fitted model and the facts read from the export are cached in the user cache folder (see the README), so a second run reads neither the export nor fits again; --no-cache does both afresh.

    Example:

        xsell whitespace --data sample_data --account A-000042
        xsell whitespace --data sample_data --where segment=Enterprise --top 20
        xsell whitespace --data sample_data --by family
        xsell whitespace --data sample_data --sort value --top 20
    """
    from .commands.whitespace import whitespace as build

    _choice(by, "--by", ("family",))
    _choice(sort, "--sort", ("score", "value"))
    if account is not None and not account.strip():
        # (an empty text is part of every name: it matched all the accounts)
        raise UsageError("--account: empty", hint="give an account_id or an account name, or leave --account out")
    days = _horizon(horizon)
    # A warm run reads its facts and fit from the cache: the export's read is not even planned.
    session = _session(opts, lazy=not no_cache, min_base=min_base)
    answer = build(session, account=account, top=top, by=by, sort=sort, horizon_days=days, use_cache=not no_cache)
    return _show(opts, session, answer)


@command()
def backtest(
    cutoff: Annotated[
        str | None,
        typer.Option("--cutoff", metavar="DATE", help="Rank as of this date (default: the as-of date − horizon)."),
    ] = None,
    horizon: Horizon = None,
    active_days: Annotated[
        int | None,
        typer.Option(
            "--active-days", min=1, metavar="N", help="Candidates: only items sold in the N days before the cutoff."
        ),
    ] = None,
    min_base: MinBase = None,
    no_cache: NoCache = False,
    *,
    opts: Common,
) -> int:
    """Backtest: how well whitespace ranks what customers bought next, against popularity.

    Ranks as of the cutoff with only the data up to it (as xsell whitespace --as-of CUTOFF --horizon H does), then scores the ranking against the families each customer at the cutoff first bought in (cutoff, cutoff + horizon]. One row per model: popularity (families by number of owners), attach_baseline (the highest attach rate from an owned family: the ranking before the model) and whitespace (the shipped model). Columns: precision, recall, hit rate, MAP and NDCG at 1, 3 and 5, averaged over the accounts that bought something new; accounts; and the difference to popularity in P@1 and MAP@5 with a bootstrap 95% interval (1 000 resamples, fixed seed: the same bytes every run).

    Example:

        xsell backtest --data sample_data --cutoff 2025-06-30 --horizon 180d
        xsell backtest -c examples/online_retail/xsell.yaml --cutoff 2011-09-09 --horizon 90d --active-days 90
    """
    from .commands.backtest import backtest as build
    from .config import parse_iso_date

    days = _horizon(horizon)
    when = parse_iso_date(cutoff, what="--cutoff") if cutoff else None
    session = _session(opts, min_base=min_base)
    return _show(
        opts, session, build(session, cutoff=when, horizon_days=days, active_days=active_days, use_cache=not no_cache)
    )


@command()
def expansion(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            metavar="PERIOD",
            help="month, quarter (default) or year.",
            autocompletion=_values("month", "quarter", "year"),
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="GROUP",
            help="rep, segment, family or region.",
            autocompletion=_values("rep", "segment", "family", "region"),
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            metavar="MODE",
            help="auto (default: arr when the export has end dates), bookings or arr.",
            autocompletion=_values("auto", "bookings", "arr"),
        ),
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
    from .commands.expansion import expansion as build

    _choice(period, "--period", ("month", "quarter", "year"))
    _choice(by, "--by", ("rep", "segment", "family", "region"))
    _choice(mode, "--mode", ("auto", "bookings", "arr"))
    session = _session(opts, period=period, mode=mode)
    return _show(opts, session, build(session, by=by, with_notes=_with_notes(opts)))


@command()
def timing(
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="GROUP",
            help="land_family, cross_family, pair, segment or cohort (land quarter).",
            autocompletion=_values("land_family", "cross_family", "pair", "segment", "cohort"),
        ),
    ] = None,
    premature_days: PrematureDays = None,
    early_churn_days: EarlyChurnDays = None,
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
    from .commands.timing import timing as build

    _choice(by, "--by", ("land_family", "cross_family", "pair", "segment", "cohort"))
    session = _session(opts, premature_days=premature_days, early_churn_days=early_churn_days)
    return _show(opts, session, build(session, by=by))


@command()
def retention(window: Window = None, *, opts: Common) -> int:
    """Retention by number of families owned: do multi-product customers stay (and grow) more?

    Cohort: accounts with ARR on the window start S = as-of − window, grouped by the families they owned on S (1, 2, 3+, all): accounts, start_arr, end_arr (same accounts on the as-of date), logo_retention (share still paying), grr = Σ min(ARR_T, ARR_S) / Σ ARR_S, nrr = end_arr / start_arr. Needs end dates (a subscription or billing export); without them it says so and exits 0.

    Example:

        xsell retention --data sample_data
        xsell retention --data sample_data --window 2y --where segment=SMB
    """
    from .commands.retention import retention as build

    session = _session(opts, window=window)
    return _show(opts, session, build(session))


@command()
def flags(
    flag: Annotated[
        list[str] | None,
        typer.Option(
            "--flag",
            autocompletion=_flag_names,
            metavar="NAME",
            help="Only this flag (repeatable): pass_through, forced_bundle, "
            "early_churn, premature, rep_concentration, price_erosion.",
        ),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity",
            metavar="LEVEL",
            help="Only findings at or above: high, medium or low.",
            autocompletion=_values(*SEVERITIES),
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="rep",
            help="rep: per rep, cross-sells, flagged, share flagged and flagged value; flagged counts the "
            "lines the chosen line flags (pass_through, early_churn, premature) mark.",
            autocompletion=_values("rep"),
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="LEVEL",
            autocompletion=_values(*SEVERITIES),
            help="Exit 1 when a finding at or above this severity (high, medium, low) is shown: for cron alerts.",
        ),
    ] = None,
    pass_through_discount: PassThroughDiscount = None,
    forced_bundle_share: ForcedBundleShare = None,
    early_churn_days: EarlyChurnDays = None,
    premature_days: PrematureDays = None,
    min_base: MinBase = None,
    window: Window = None,
    all_findings: Annotated[
        bool,
        typer.Option("--all-findings", help="List every finding (by default the first 200 by severity, then amount)."),
    ] = False,
    *,
    opts: Common,
) -> int:
    """Flags: the cross-sells that are not what they seem — pass-through discounts, forced bundles, early churn, premature pitches, rep concentration, price erosion.

    One row per finding: flag, severity, line_id, account_id, family, base_family, product_id, rep, contract_id, booked_at, amount, list_amount, discount, detail; sorted by severity, then amount. pass_through (high): a cross-sell priced at ≤ 10% of list on the same deal as another family. forced_bundle (medium): family B sold on A's deals in ≥ 95% of its lines. early_churn (medium): a cross-sold family gone within 180 days. premature (low): a cross-sell within 90 days of land; when the book's own median time to cross-sell is under that, one book-level finding with the counts instead (a finding that fires on most of the book is not a finding). rep_concentration (medium): a rep whose share of flagged cross-sells is ≥ 2× the book's (≥ 3 lines); when over half of the book's cross-sells are flagged, one book-level finding says no rep can stand out. price_erosion (medium): attach up while realized price fell ≥ 20% across the window's halves. Findings never change the exit code unless --fail-on is given: then exit 1 when a finding (listed or not) is at or above that severity. The list stops at the first 200 findings (the most severe, then the largest); a note says how many more there are, and --all-findings lists them all.

    Example:

        xsell flags --data sample_data
        xsell flags --data sample_data --flag pass_through --by rep
        xsell flags --data sample_data --all-findings -o flags.csv
        xsell flags --data exports/ --fail-on high -q -o reports/flags-{as_of}.csv
    """
    from .commands.flags import flags as build
    from .metrics.flags import FLAGS, SEVERITY

    for name in flag or []:
        _choice(name, "--flag", FLAGS)
    for value, option in ((severity, "--severity"), (fail_on, "--fail-on")):
        _choice(value, option, tuple(SEVERITY))
    _choice(by, "--by", ("rep",))
    session = _session(
        opts,
        pass_through_discount=pass_through_discount,
        forced_bundle_share=forced_bundle_share,
        early_churn_days=early_churn_days,
        premature_days=premature_days,
        min_base=min_base,
        window=window,
    )
    answer = build(session, names=flag, severity=severity, by=by, fail_on=fail_on, all_findings=all_findings)
    return _show(opts, session, answer)


@command(options=tuple(n for n in _COMMON_NAMES if n != "wide"))
def report(
    curves_by: Annotated[
        str | None,
        typer.Option(
            "--curves-by",
            metavar="GROUP",
            help="Time to cross-sell: one curve (and timing row) per land_family, cohort (land quarter) or segment, besides all accounts.",
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            "-n",
            min=1,
            metavar="N",
            help="Whitespace: the N account × family (or product) rows with the highest score, "
            "as 'xsell whitespace --top N' lists them.",
        ),
    ] = 20,
    window: Window = None,
    period: Annotated[
        str | None,
        typer.Option("--period", "-p", metavar="PERIOD", help="Expansion: month, quarter (default) or year."),
    ] = None,
    min_base: MinBase = None,
    premature_days: PrematureDays = None,
    early_churn_days: EarlyChurnDays = None,
    pass_through_discount: PassThroughDiscount = None,
    forced_bundle_share: ForcedBundleShare = None,
    *,
    opts: Common,
) -> int:
    """Report: every metric in one document with charts — an offline HTML page or an Excel workbook.

    -o report.html writes one self-contained page (inline SVG charts, no scripts, nothing fetched; prints one section per page): the headline KPIs against their good ranges, the attach heatmap, the expansion bridge (and ARR line), the Kaplan–Meier time to cross-sell, retention by families owned, whitespace, flags, and the fine print (settings, every input row accounted for). -o report.xlsx writes the same numbers as one Excel table per metric with native charts. The numbers are those of summary, attach --all, expansion, timing, retention, whitespace (--top, --by family) and flags (--all-findings, --by rep), computed in one pass. --format html|xlsx overrides -o's extension. Without -o the page goes to stdout when stdout is a pipe or a file (xsell report > report.html); on a terminal -o is required (exit 2).

    Example:

        xsell report --data sample_data -o report.html
        xsell report --data sample_data -o report.xlsx
        xsell report -c examples/ravenstack/xsell.yaml --curves-by cohort -o ravenstack.html
        xsell report --data sample_data --where segment=Enterprise --as-of 2025-06-30 -o enterprise-{as_of}.html
    """
    from .commands.report import report as build

    _choice(curves_by, "--curves-by", ("land_family", "cohort", "segment"))
    _choice(period, "--period", ("month", "quarter", "year"))
    chosen = _report_format(opts)  # before the book is read: a wrong -o fails at once
    session = _session(
        opts,
        window=window,
        period=period,
        min_base=min_base,
        premature_days=premature_days,
        early_churn_days=early_churn_days,
        pass_through_discount=pass_through_discount,
        forced_bundle_share=forced_bundle_share,
    )
    return _write_report(opts, session, build(session, curves_by=curves_by, top=top), chosen)


REPORT_FORMATS = {".html": "html", ".htm": "html", ".xlsx": "xlsx"}


def _report_format(opts: Common) -> str:
    """html or xlsx, from --format, else -o's extension; stdout only when it is not a terminal
    (a page of HTML on a terminal is never what was meant)."""
    if opts.format is not None and opts.format not in ("html", "xlsx"):
        raise UsageError(f"--format {opts.format}: a report is html or xlsx")
    path = opts.output
    if path is not None and path != "-":
        if opts.format is not None:
            return opts.format
        suffix = Path(path).suffix.lower()
        if suffix not in REPORT_FORMATS:
            raise UsageError(
                f"-o {path}: a report is .html or .xlsx, not '{suffix or 'no extension'}'",
                hint="xsell report -o report.html (or report.xlsx), or pass --format html|xlsx",
            )
        return REPORT_FORMATS[suffix]
    chosen = opts.format or "html"
    if sys.stdout.isatty() and (path is None or chosen == "xlsx"):
        raise UsageError(
            "xsell report writes a document: give -o report.html or -o report.xlsx",
            hint="or redirect it: xsell report … > report.html",
        )
    return chosen


def _write_report(opts: Common, session: "Session", built: "Report", chosen: str) -> int:
    """Collect the report's one plan, render it, write it atomically; then the row account."""
    from . import render
    from .commands.session import account_line, collect, nothing_used_failure, strict_failure
    from .report import render_html, write_xlsx

    plan = built.plan
    if plan.ingested is not None:
        counts = plan.ingested.counts
        failure = strict_failure(counts) if session.settings.strict else None
        failure = failure or nothing_used_failure(counts)
        if failure is not None:
            _stderr(account_line(plan.ingested.counts))
            raise failure
    collected = collect(session, plan)
    data = built.finish(collected)
    path = opts.output
    written = None
    if path is None or path == "-":
        binary = sys.stdout.buffer
        sys.stdout.flush()
        if chosen == "html":
            binary.write(render_html(data).encode("utf-8"))
        else:
            # (made whole in memory first: a zip written into a stdout that fails halfway is
            # closed again at exit, and fails again there, past the error message)
            workbook = io.BytesIO()
            write_xlsx(data, workbook)
            binary.write(workbook.getvalue())
        binary.flush()
    else:
        target = Path(render.expand_path(path, as_of=_path_as_of(plan, collected), today=dt.date.today()))
        render.check_not_input(target, session.inputs)
        if chosen == "html":
            render.write_atomic(target, render_html(data).encode("utf-8"))
        else:
            render.write_atomic(target, lambda fh: write_xlsx(data, fh))
        written = str(target)
    if written and not opts.quiet:
        _stderr(f"wrote {written}")
    _ingest_warnings(opts, plan)
    if not opts.quiet or collected.rejected:
        _stderr(account_line(collected.counts))
    return 0


@command(options=("format", "output", "quiet", "debug", "wide"))
def profiles(*, opts: Common) -> int:
    """List the built-in export profiles: the header names and value conventions of a CRM or billing system.

    A profile maps a system's own export headers (Opportunity.AccountId, hs_arr, price.unit_amount…), stage values and units onto xsell's columns with no hand work. Use one with --profile NAME (or profile: in xsell.yaml); the config's columns: mapping still wins. Profiles are YAML files: copy one, edit it, and pass its path to --profile.

    Line items kept apart from their deal are joined to it: a Salesforce Data Loader folder (OpportunityLineItem.csv, Opportunity.csv, Account.csv, Product2.csv) takes each line's account, close date and outcome from its opportunity; HubSpot line items take them from the deals export beside them. A HubSpot line item's amount is per billing period and is annualised by recurringbillingfrequency (monthly × 12, quarterly × 4…); one-time lines are left out of ARR.

    Example:

        xsell profiles
        xsell --profile salesforce attach --data ~/Downloads/export/
        xsell --profile hubspot expansion --data ~/Downloads/hubspot-export/
    """
    import polars as pl

    from . import render
    from .ingest import available_profiles, load_profile

    rows = [
        {"profile": name, "description": load_profile(name).get("description", ""), "file": str(path)}
        for name, path in available_profiles().items()
    ]
    frame = pl.DataFrame(rows, schema={"profile": pl.String, "description": pl.String, "file": pl.String})
    output = render.Output(frame, "Export profiles")
    written = render.emit(output, fmt=opts.format, path=opts.output, inputs=[], wide=opts.wide)
    if written and not opts.quiet:
        _stderr(f"wrote {written}")
    return 0


@command(options=("output", "quiet", "debug"))
def sample(
    accounts_n: Annotated[int, typer.Option("--accounts", "-n", min=1, metavar="N", help="Number of accounts.")] = 4000,
    seed: Annotated[int, typer.Option("--seed", "-s", metavar="N", help="Random seed: same seed, same bytes.")] = 7,
    families: Annotated[
        int,
        typer.Option("--families", min=8, max=200, metavar="N", help="Number of product families (benchmarks use 40)."),
    ] = 10,
    *,
    opts: Common,
) -> int:
    """Write a realistic synthetic book (the one in sample_data/) into the -o folder.

    accounts.csv, products.csv and line_items.csv in the canonical columns, plus planted.csv listing the gaming patterns planted in it. Segments, regions, reps, tiered families, multi-line contracts, churn, contraction, discounts, lost deals: every command has something true to show. Same seed, same bytes.

    Example:

        xsell sample --accounts 2000 --seed 7 -o my_book
    """
    from .sample import SampleSpec, write_sample

    if not opts.output or opts.output == "-":
        raise UsageError("give the target folder with -o DIR", hint="xsell sample -o my_book")
    progress.step(f"writing a book of {accounts_n:,} accounts into {opts.output}")
    written = write_sample(Path(opts.output), SampleSpec(accounts=accounts_n, seed=seed, families=families))
    if not opts.quiet:
        _stderr(f"wrote {', '.join(str(p) for p in written)}")
    return 0


# Polars allocates through jemalloc, which by default keeps freed pages for ten seconds
# before handing them back: a run's peak RSS then counts every intermediate frame it has
# already dropped. Returning "muzzy" pages at once and dirty ones after 100 ms keeps the
# peak near the live data (-25 to -30% on the benchmark book) at no measurable cost. Set
# before Polars loads; an explicit setting in the environment wins.
MALLOC_CONF = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0")
# NumPy asks the kernel for transparent huge pages on every array of 4 MB or more. Where the
# kernel then compacts memory on the spot (THP "madvise", defrag "madvise", common on servers),
# each fresh 2 MB page costs a synchronous compaction: the whitespace model's item × item
# arrays (100 MB each on a large catalogue) spent 5–6 s in the kernel, and a cold whitespace
# run on Online Retail took 13.7–14.1 s; with ordinary pages 12.1–12.3 s and 40 MB less.
# Read when NumPy is imported (after this, inside the commands); the environment wins.
NUMPY_HUGEPAGES = ("NUMPY_MADVISE_HUGEPAGE", "0")


def main() -> None:
    """Console entry point."""
    os.environ.setdefault(*MALLOC_CONF)
    os.environ.setdefault(*NUMPY_HUGEPAGES)
    try:
        app()
    except BrokenPipeError:  # pragma: no cover - raised while flushing at exit
        _silence_stdout()
        sys.exit(0)
