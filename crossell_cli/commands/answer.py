"""What a command hands the CLI: a plan to collect once, and how to explain what came back.

A command builds an ``Answer`` from a Session without collecting anything: the title, the
``Plan`` (its main table as a lazy frame, plus the small side frames its notes need), and
``finish``, which turns the collected frames into what is shown (``Shown``: the notes, the
exit code, and, when the table itself needs the data to take its shape, the table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

from ..config import Settings
from .session import Collected, Plan


@dataclass(frozen=True)
class Shown:
    notes: tuple[str, ...] = ()
    code: int = 0
    frame: pl.DataFrame | None = None  # replaces the collected main table (a matrix, an empty result)
    title: str | None = None
    message: str | None = None  # said on stderr instead of a table (nothing to show, and why)
    table_columns: tuple[str, ...] | None = None  # replaces Answer.table_columns
    kinds: Mapping[str, str] | None = None  # replaces Answer.kinds
    alert: str | None = None  # said on stderr under -q too (a matched --fail-on)
    # Notes that must reach the user whatever the format: with the table's notes, or on stderr
    # when the output carries none (csv, json, parquet).
    announce: tuple[str, ...] = ()
    header: str | None = None  # one line above the table (the account whitespace --account shows)
    header_columns: tuple[str, ...] = ()  # columns the header stands for (left out of the table)


@dataclass(frozen=True)
class Answer:
    title: str
    plan: Plan
    finish: Callable[[Collected], Shown]
    # Render hints: column kinds, the columns a person sees, per-row kinds.
    kinds: Mapping[str, str] = field(default_factory=dict)
    table_columns: tuple[str, ...] = ()
    row_kinds: Mapping[str, str] = field(default_factory=dict)
    # The main table may stream into a file (a long list); False when finish reshapes it.
    streamable: bool = True
    level: str = "family"  # product: table headers say product where they say family
    see_validate: bool = True  # the row account points to 'xsell validate' when rows were rejected


def settings_line(settings: Settings, as_of: dt.date | None, *, dateless: bool, level: str, extra: str = "") -> str:
    when = f"as of {as_of.isoformat()}" if not dateless and as_of else "no dates (a wide export: ownership as exported)"
    parts = [when, f"level {level}"]
    if settings.where:
        parts.append("where " + " and ".join(f"{c}={v}" for c, v in settings.where))
    if extra:
        parts.append(extra)
    return "settings: " + " · ".join(parts)


NOTHING = "no won line with a date on or before the as-of date: nothing to measure"


def empty(columns: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String for c in columns})


def nothing_to_measure(table: pl.LazyFrame) -> Shown:
    """No won line with a date by T: the table's header all the same, and the reason on stderr
    whatever the format."""
    columns = tuple(table.collect_schema().names())
    return Shown(
        announce=("no won line with a date on or before the as-of date: nothing to measure",), frame=empty(columns)
    )


def dateless_message(command: str) -> str:
    return (
        f"{command} needs dates, and this export has none (one row per account saying who owns what): "
        "attach, whitespace and summary's multi-product rate work on it"
    )


def choice(value: str | None, option: str, choices: tuple[str, ...]) -> str | None:
    from ..errors import UsageError

    if value is not None and value not in choices:
        raise UsageError(f"{option} {value}: choose one of {', '.join(choices)}")
    return value


__all__ = ["NOTHING", "Answer", "Collected", "Plan", "Shown", "choice", "dateless_message", "empty", "settings_line"]
