"""One run: settings resolved once (CLI > config file > profile > default), the lazy book,
the shared model, and the one collect that computes everything a command shows.

Nothing here prints or exits; problems are exceptions (errors.py) for the CLI to report.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from ..config import Settings, find_config, read_config, resolve_settings
from ..errors import DataError, UsageError, XsellError
from ..ingest import (
    ROW_HASH,
    Book,
    explain,
    load,
    load_probed,
    load_profile,
    parquet_text_error,
    reads_list_values,
    unread_column_warnings,
    unread_line_columns,
    with_profile_lookups,
)
from ..model import Model, build_model, is_closed, is_won, latest_closed_date
from ..model import as_of as as_of_column

# A shared fact feeds several parts of one plan: nested common-subplan caching computes it
# once. Off by default in Polars 2.1; without it the scan runs once per consumer (8× on
# `xsell validate`).
_ENGINE_ENV: dict[str, str] = {}


def configure_polars() -> None:
    """Polars settings every collect of xsell relies on (idempotent)."""
    pl.Config.load(json.dumps({"environment": _ENGINE_ENV}))


@dataclass(frozen=True)
class Session:
    settings: Settings
    profile: Mapping[str, Any]
    config_path: Path | None
    loader: Callable[[], Book] = field(repr=False, compare=False)

    @cached_property
    def book(self) -> Book:
        """The book as lazy frames (``ingest.load``), planned when first asked for (its headers
        and a sample of its dates are read then; its rows only when a plan over it is collected).
        A run whose facts come from the cache never asks: it neither opens the export nor plans
        its read."""
        return self.loader()

    @property
    def inputs(self) -> list[Path]:
        """Every file the answer reads: the tables, the files joined to them (a config's
        ``lookup:``, a profile's deals export) and the config. What the caches are keyed on."""
        sources = self.settings.sources.values()
        paths = [s.path for s in sources] + [s.lookup.path for s in sources if s.lookup is not None]
        return paths + ([self.config_path] if self.config_path else [])

    def model(self, *, apply_where: bool = True, book: Book | None = None) -> Model:
        """The shared facts at T as lazy plans over the scan (or over ``book``);
        ``apply_where=False`` keeps the whole book (whitespace evidence)."""
        settings = self.settings
        book = book or self.book
        if settings.where:
            check_where_columns(settings.where, book.account_columns)
        # (a book without dates carries a placeholder day: no --as-of can cut it)
        return build_model(
            book,
            as_of=None if book.dateless else settings.as_of,
            level=settings.level,
            where=settings.where if apply_where else (),
        )

    def read(self, *, hashes: bool = False, columns: Sequence[str] | None = None) -> Book:
        """The book with its files read: the clean lane of every table in one pass (no cell
        text kept), and the book over those rows in memory; the rows that are not clean are
        read again (their text only) and take the problem lane, which names every problem.
        ``hashes``: the line items' row hashes are read too, for the copy check of ``xsell
        validate`` (otherwise they are left out of the pass, and cost nothing).
        ``columns``: the only line columns the command reads; the values of those that decide
        no row and that it does not read are not kept (``unread_line_columns``)."""
        unread = unread_line_columns(columns) if columns is not None else ()
        probes = {
            table: probe.drop(
                *(() if hashes and table == "line_items" else (ROW_HASH,)),
                *(unread if table == "line_items" else ()),
                strict=False,
            )
            for table, probe in self.book.probes.items()
        }
        if not probes:
            return self.book
        try:
            got = pl.collect_all(list(probes.values()), engine="streaming")
            # (A table with rows that are not clean reads their text again, in here.)
            probed = load_probed(
                self.book,
                self.settings,
                self.profile,
                dict(zip(probes, got, strict=True)),
                list_values=columns is None or reads_list_values(columns),
            )
        except XsellError:
            raise
        except pl.exceptions.PolarsError as exc:
            raise _explain_failure(self, exc) from None
        return probed if probed is not None else self.book

    def facts(
        self, columns: Sequence[str], *, apply_where: bool = True, keep: bool = False, stages: bool = False
    ) -> tuple[Model, Ingested]:
        """Read the book once: the used lines booked on or before T (only ``columns``), the
        accounts and products, T and the row counts, in one streaming collect; and the model
        over them, whose facts and metrics are then lazy plans over memory.

        ``stages``: the lost and open lines are read too (the summary's lost cross-sell
        attempts); otherwise only the won lines are, without their stage (every other command
        reads nothing else: a third fewer lines held at 300 k accounts, and no won filter
        each time a fact reads them).

        ``keep``: what was read is kept in the user's cache folder (cache.py), keyed by the
        input files, the settings and xsell's code, and read back from there by the next run
        with the same ones: a warm whitespace run does not read the export again.

        Why two steps rather than one plan from file to answer: every fact is shared by several
        parts of a command's plan (classified lines feed five flags), and Polars 2.1 plans such
        a graph slowly (seconds, growing with every shared reference, because each reference
        carries the whole scan and parse beneath it) and its caching of nested shared plans
        can panic. Reading into memory once cuts the graph at its widest point: the plans
        above it are small and fast to plan, and nothing is read or parsed twice.
        """
        if keep:
            from .. import cache

            key = {
                "inputs": cache.fingerprint(self.inputs),
                "settings": repr(self.settings),
                "profile": repr(sorted(self.profile.items())),
                "columns": list(columns),
                "apply_where": apply_where,
                "stages": stages,
            }
            named, meta = cache.frames(
                "facts", key, lambda: self._read_facts(columns, apply_where=apply_where, stages=stages)
            )
        else:
            named, meta = self._read_facts(columns, apply_where=apply_where, stages=stages)
        as_of = dt.date.fromisoformat(meta["as_of"]) if meta["as_of"] else None
        ingested = Ingested(counts=named["counts"], as_of=as_of, warnings=tuple(meta["warnings"]))
        model = Model(
            level=meta["level"],
            all_lines=named["lines"].lazy(),
            accounts=named["accounts"].lazy(),
            products=named["products"].lazy(),
            catalogue=named["products"].lazy() if meta["catalogue"] else None,
            listed=named["listed"].lazy(),
            where=(),
            dateless=meta["dateless"],
            has_stage=meta["has_stage"],
            known_as_of=as_of,
            in_memory=True,
            won_only=not stages,
        )
        return model, ingested

    def _read_facts(
        self, columns: Sequence[str], *, apply_where: bool, stages: bool = False
    ) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
        """The frames ``facts`` builds its model on, and what else it needs to know (``meta``)."""
        book = self.read(columns=columns)
        model = self.model(apply_where=apply_where, book=book)
        wanted = [c for c in columns if c in model.all_lines.collect_schema().names()]
        lines = model.lines if stages else model.won
        if not stages:
            wanted = [c for c in wanted if c != "stage"]
        named: dict[str, pl.LazyFrame] = {
            "lines": lines.select(wanted),
            "accounts": model.accounts,
            "products": model.products,
            "listed": model.listed,
            "as_of": model.as_of_frame,
        }
        given = None if model.dateless else self.settings.as_of
        if given is not None:
            named["latest"] = model.all_lines.select(
                latest_closed_date().alias("latest"), pl.col("booked_at").filter(is_won()).min().alias("first_won")
            )
            # Only a given T can leave closed lines after it (the default T is the last of them).
            after = is_closed() & (pl.col("booked_at") > as_of_column())
            named["after"] = model.all_lines.select(after.sum().cast(pl.Int64).alias("after"))
        elif not model.dateless:
            # The default T is the last closed line's date: one typo (2204 for 2024) moves it.
            future = is_closed() & (pl.col("booked_at") > dt.date.today())
            named["future"] = model.all_lines.select(future.sum().cast(pl.Int64).alias("future"))
        got = _collect_checked(self, named, book=book)
        value = got["as_of"].item() if got["as_of"].height else None
        as_of = value if isinstance(value, dt.date) else None
        latest, first_won = got["latest"].row(0) if "latest" in got else (None, None)
        warnings = _as_of_warnings(given, latest, first_won) + unread_column_warnings(book)
        if model.dateless and self.settings.as_of is not None:
            warnings += (
                f"warning: --as-of {self.settings.as_of.isoformat()} does not apply: the book has no dates "
                "(ownership as exported)",
            )
        if "future" in got and got["future"].item() and as_of is not None:
            warnings += (_future_warning(as_of, got["future"].item()),)
        frames = {name: got[name] for name in ("lines", "accounts", "products", "listed")}
        frames["counts"] = got["__counts"]
        if "after" in got:
            after = pl.when(pl.col("table") == "line_items").then(got["after"].item()).otherwise(0)
            frames["counts"] = frames["counts"].with_columns(
                (pl.col("used") - after).alias("used"), after.cast(pl.Int64).alias("after_as_of")
            )
        meta = {
            "as_of": as_of.isoformat() if as_of else None,
            "warnings": list(warnings),
            "level": model.level,
            "catalogue": model.catalogue is not None,
            "dateless": model.dateless,
            "has_stage": model.has_stage,
        }
        return frames, meta


def open_session(
    cli: Mapping[str, Any], *, config: Path | None, cwd: Path | None = None, lazy: bool = False
) -> Session:
    """Settings from the command line, the config file and the profile; the book as lazy frames
    (what stops a run before any row is read is raised here: a missing file or column, an
    unreadable header). ``lazy``: the book is planned when first used instead, for a command
    that may find its facts in the cache (whitespace: 0.3 s of a warm run on Online Retail)."""
    config_path = find_config(config, cwd)
    file_values = read_config(config_path) if config_path else {}
    profile_name = cli.get("profile") or file_values.get("profile")
    profile = load_profile(profile_name) if profile_name else {}
    settings = resolve_settings(
        file_values=file_values,
        config_dir=config_path.parent if config_path else None,
        cli=cli,
        profile_values=profile,
    )
    settings = with_profile_lookups(settings, profile)
    configure_polars()
    session = Session(settings, profile, config_path, loader=lambda: load(settings, profile))
    if not lazy:
        _ = session.book
    return session


def check_where_columns(where: Sequence[tuple[str, str]], columns: Sequence[str]) -> None:
    for column, _value in where:
        if column not in columns:
            raise UsageError(
                f"--where {column}=…: accounts have no column '{column}'",
                hint=f"columns you can filter on: {', '.join(columns)}",
            )


# ---------------------------------------------------------------------------------------
# the one collect


@dataclass(frozen=True)
class Collected:
    """What one collect returned: the named frames, the row counts and T."""

    frames: Mapping[str, pl.DataFrame]
    counts: pl.DataFrame
    as_of: dt.date | None
    main: pl.DataFrame | None = None  # the main table, unless it was streamed to a file

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.frames[name]

    def scalar(self, name: str) -> Any:
        frame = self.frames[name]
        return frame.item() if frame.height else None

    @property
    def rejected(self) -> int:
        return int(self.counts["rejected"].sum())


@dataclass(frozen=True)
class Ingested:
    """What reading the book told: the row counts per table, T, and what the user should hear
    about the settings against the data (one line each)."""

    counts: pl.DataFrame
    as_of: dt.date | None
    warnings: tuple[str, ...] = ()


def _as_of_warnings(given: dt.date | None, latest: dt.date | None, first_won: dt.date | None) -> tuple[str, ...]:
    """An as-of date past the data is usually a typo or a stale export: every line still
    active would be counted as active on a day nobody has seen yet. One before the first won
    line leaves every metric without a customer: its empty table needs the reason (the row
    account's "0 used" alone does not say why)."""
    if given is None:
        return ()
    if latest is not None and given > latest:
        return (f"warning: as-of {given.isoformat()} is after the last closed line in the data ({latest.isoformat()})",)
    if first_won is not None and given < first_won:
        return (
            f"warning: as-of {given.isoformat()} is before the first won line in the data ({first_won.isoformat()}): "
            "nothing was won by then, so there is nothing to measure; pass a later --as-of",
        )
    return ()


def _future_warning(as_of: dt.date, lines: int) -> str:
    """The default as-of date set by closed lines dated after today (a typo, usually)."""
    noun = "line is" if lines == 1 else "lines are"
    return (
        f"warning: the as-of date is {as_of.isoformat()}, the last closed line's, which is after today "
        f"({dt.date.today().isoformat()}): {lines:,} closed {noun} dated after today (a typo?); "
        "pass --as-of to measure at another date"
    )


@dataclass
class Plan:
    """Everything a command will collect: its main table (``main``, collected or sunk into a
    file) and the small frames its notes and checks read (``sides``), over ``model`` (the
    facts read by ``Session.facts``, whose ``ingested`` counts and T come along)."""

    main: pl.LazyFrame | None = None
    sides: dict[str, pl.LazyFrame] = field(default_factory=dict)
    model: Model | None = None
    ingested: Ingested | None = None
    book: Book | None = None  # the book read (``Session.read``) when not the session's lazy one


def _collect_checked(
    session: Session, named: Mapping[str, pl.LazyFrame], head: Sequence[pl.LazyFrame] = (), *, book: Book | None = None
) -> dict[str, pl.DataFrame]:
    """One ``collect_all`` of ``head`` (returned under "__head…") and ``named`` frames, with the
    row counts and the book's guards when they are still to be read; then the checks only the
    data can tell: mixed currencies, --where values."""
    book = book or session.book
    frames: dict[str, pl.LazyFrame] = dict(named)
    frames["__counts"] = book.counts
    for i, guard in enumerate(book.guards):
        frames[f"__guard{i}"] = guard.frame
    where = session.settings.where
    if where and "accounts" in named:
        for column in sorted({c for c, _ in where}):
            frames[f"__where_{column}"] = named["accounts"].select(pl.col(column).cast(pl.String).drop_nulls().unique())
    try:
        results = pl.collect_all([*head, *frames.values()], engine="streaming")
    except XsellError:
        raise
    except pl.exceptions.PolarsError as exc:
        raise _explain_failure(session, exc) from None
    got = {f"__head{i}": frame for i, frame in enumerate(results[: len(head)])}
    got.update(zip(frames, results[len(head) :], strict=True))
    for i, guard in enumerate(book.guards):
        guard.check(got[f"__guard{i}"])
    if where and "accounts" in named:
        _check_where_values(where, {c.removeprefix("__where_"): f for c, f in got.items() if c.startswith("__where_")})
    return got


def collect(session: Session, plan: Plan, *, sink: pl.LazyFrame | None = None) -> Collected:
    """Collect the plan in one ``collect_all``: the main table (or its file ``sink``) and the
    side frames. Over facts already read (``plan.ingested``) nothing is read again; otherwise
    (validate) the row counts and the book's checks come in the same collect."""
    head = [sink] if sink is not None else [plan.main] if plan.main is not None else []
    if plan.ingested is not None:
        try:
            results = pl.collect_all([*head, *plan.sides.values()], engine="streaming")
        except pl.exceptions.PolarsError as exc:
            raise _explain_failure(session, exc) from None
        got = {f"__head{i}": frame for i, frame in enumerate(results[: len(head)])}
        got.update(zip(plan.sides, results[len(head) :], strict=True))
        counts, as_of = plan.ingested.counts, plan.ingested.as_of
    else:
        got = _collect_checked(session, plan.sides, head, book=plan.book)
        counts, as_of = got["__counts"], None
    main = got.get("__head0") if head and sink is None else None
    return Collected(
        frames={k: v for k, v in got.items() if not k.startswith("__")},
        counts=counts,
        as_of=as_of,
        main=main,
    )


def _explain_failure(session: Session, exc: BaseException) -> XsellError:
    """A Polars error while reading the inputs, as a message about the file it came from."""
    text = str(exc)
    for source in session.settings.sources.values():
        if str(source.path) in text or source.path.name in text:
            return explain(source.path, source.delimiter or session.settings.delimiter, exc)
    if "utf8" in text.lower() or "utf-8" in text.lower():
        # (Polars names no file: a Parquet BINARY column that is not text may be in any table)
        for source in session.settings.sources.values():
            for path in (source.path, *((source.lookup.path,) if source.lookup else ())):
                found = parquet_text_error(path)
                if found is not None:
                    return found
    line_items = session.settings.sources["line_items"]
    return explain(line_items.path, line_items.delimiter or session.settings.delimiter, exc)


def _check_where_values(where: Sequence[tuple[str, str]], values: Mapping[str, pl.DataFrame]) -> None:
    for column, frame in values.items():
        known = sorted(frame.to_series().to_list())
        if not known:
            raise UsageError(
                f"--where {column}=…: no account has a {column}",
                hint="give an accounts table with that column, or map it with columns.accounts",
            )
        lowered = {k.lower() for k in known}
        for wanted_column, value in where:
            if wanted_column != column or value.lower() in lowered:
                continue
            close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
            listing = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
            raise UsageError(
                f"no account has {column} = '{value}'; values: {listing}"
                + (f" (did you mean {close[0]}?)" if close else "")
            )


def strict_failure(counts: pl.DataFrame) -> DataError | None:
    rejected = int(counts["rejected"].sum())
    if not rejected:
        return None
    return DataError(
        f"{rejected:,} row(s) rejected and --strict is on",
        hint="run 'xsell validate' to list them with the reason and the fix",
    )


def nothing_used_failure(counts: pl.DataFrame) -> DataError | None:
    """Every line item rejected (an export whose amounts changed to '1,5' upstream): no
    metric has a line to read, and an empty answer with exit 0 would pass for a quiet month
    in a nightly job (found by a red-team pass). A file with no rows, or whose lines are all
    after --as-of or open, is not this: nothing in it was refused."""
    lines = counts.filter(pl.col("table") == "line_items")
    if lines.is_empty():
        return None
    row = lines.row(0, named=True)
    if row["used"] or row["after_as_of"] or not row["rejected"]:
        return None
    return DataError(
        f"every line item was rejected ({row['rejected']:,} of {row['rows']:,} rows): there is nothing to measure",
        hint="run 'xsell validate' to list them with the reason and the fix",
    )


ACCOUNT_WIDTH = 80
SEE_VALIDATE = " — see 'xsell validate'"


def account_line(counts: pl.DataFrame, *, width: int = ACCOUNT_WIDTH, see_validate: bool = True) -> str:
    """The row account every command ends with on stderr: one line of at most ``width``
    characters in the common case, e.g.

        15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected
        8,800 line items: 6,711 used, 2,089 open (no metric uses them), 0 rejected
        3 line items: 3 used, 0 rejected; accounts: 1 rejected — see 'xsell validate'

    Line items are always counted (used + after the as-of date + open + rejected + excluded =
    rows), and any other
    table that lost rows is named; the rest (the words after "open", the accounts and products
    counts, blank and footer lines dropped) is said only while the line fits ``width``.
    ``xsell validate`` gives every table's full account (``table_account``); its own line
    does not send the reader to itself (``see_validate=False``).
    """
    tables = {row["table"]: row for row in counts.iter_rows(named=True)}
    lines = tables.get("line_items") or _no_rows("line_items")
    others = [row for name, row in tables.items() if name != "line_items"]

    # (text, optional): optional pieces are kept, in this order of priority, while they fit.
    head: list[tuple[str, bool]] = [(f"{lines['rows']:,} line items: {lines['used']:,} used", False)]
    if lines.get("after_as_of"):
        head.append((f", {lines['after_as_of']:,} after the as-of date", False))
    if lines["open"]:
        head += [(f", {lines['open']:,} open", False), (" (no metric uses them)", True)]
    head.append((f", {lines['rejected']:,} rejected", False))
    if lines["excluded"]:
        head += [(f", {lines['excluded']:,} excluded", False), (" by the config", True)]
    dropped = _dropped(lines)
    if dropped:
        head.append((f" ({dropped} lines dropped)", True))
    lost = [row for row in others if row["rejected"] or row["excluded"]]
    for row in lost:
        text = f"; {row['table']}: " + ", ".join(
            f"{row[k]:,} {k}" for k in ("rejected", "excluded") if row[k] or k == "rejected"
        )
        head.append((text, False))
    clean = [row for row in others if row not in lost]
    if clean:
        head.append(("; " + ", ".join(f"{row['rows']:,} {row['table']}" for row in clean), True))
    tail = SEE_VALIDATE if see_validate and int(counts["rejected"].sum()) else ""

    kept = [text for text, optional in head if not optional]
    budget = width - len("".join(kept)) - len(tail)
    chosen = []
    for text, optional in head:
        if optional:
            if len(text) > budget:
                continue
            budget -= len(text)
        chosen.append(text)
    line = "".join(chosen)
    if len(line) + len(tail) <= width:
        return line + tail
    # Rejected rows in a large book: the pointer to validate gets a line of its own; a line
    # still too long wraps between its pieces ('132,516 rejected' stays whole), a piece's
    # comma or semicolon ending the line above.
    wrapped = [chosen[0]]
    for i, piece in enumerate(chosen[1:], start=2):
        # (room is kept for the comma of a piece yet to come)
        if len(wrapped[-1]) + len(piece) <= width - (i < len(chosen)):
            wrapped[-1] += piece
        elif piece[:1] in ",;":
            wrapped[-1] += piece[0]
            wrapped.append("  " + piece[1:].lstrip())
        else:  # (' (2 blank lines dropped)')
            wrapped.append("  " + piece.lstrip())
    return "\n".join([*wrapped, f"  {tail.strip()}"] if tail else wrapped)


def table_account(row: Mapping[str, Any], *, warnings: int | None = None) -> str:
    """One table's full account, as ``xsell validate`` gives it: 'accounts: 4,000 rows, 3,998
    used, 2 rejected, 5 warnings (1 blank lines dropped)'."""
    text = f"{row['table']}: {row['rows']:,} rows, {row['used']:,} used"
    if row.get("after_as_of"):
        text += f", {row['after_as_of']:,} booked after the as-of date (no metric reads past it)"
    if row["open"]:
        text += f", {row['open']:,} open (no metric uses them)"
    text += f", {row['rejected']:,} rejected"
    if row["excluded"]:
        text += f", {row['excluded']:,} excluded by the config"
    if warnings is not None:
        text += f", {warnings:,} warnings"
    dropped = _dropped(row)
    if dropped:
        text += f" ({dropped} lines dropped)"
    return text


def _dropped(row: Mapping[str, Any]) -> str:
    dropped = [
        f"{row[key]:,} {what}"
        for key, what in (("header_lines", "report-title"), ("blank_lines", "blank"), ("footer_lines", "report-footer"))
        if row.get(key)
    ]
    if len(dropped) <= 1:
        return "".join(dropped)
    return ", ".join(dropped[:-1]) + " and " + dropped[-1]


def _no_rows(table: str) -> dict[str, Any]:
    return dict.fromkeys(("rows", "used", "rejected", "excluded", "open", "after_as_of"), 0) | {"table": table}
