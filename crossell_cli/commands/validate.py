"""xsell validate: every rejected row and every warning, with the reason and the fix."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ExitCode
from ..ingest import ISSUE_SCHEMA, unread_column_warnings
from ..ingest.repeats import held_at
from ..model import book_as_of
from .answer import Answer, Shown
from .session import Collected, Plan, Session, table_account


def shown_path(path: Path) -> str:
    """The file as a person would type it from here: a config's ``../../../shared/x.csv`` read
    from ``examples/retail/`` is ``../shared/x.csv`` (its folder resolved, the name itself as
    given), when that is shorter. Before, an 80-column terminal split that long path mid-name."""
    given = str(path)
    if ".." not in path.parts:  # (a path as the user typed it stays so)
        return given
    try:
        here = os.path.relpath(path.parent.resolve() / path.name)
    except (OSError, ValueError):  # (another drive on Windows)
        return given
    return here if len(here) < len(given) else given


def validate(session: Session) -> Answer:
    # A file whose rows are all clean is read once into memory (the probe), and the warnings
    # are checked there; otherwise the lazy book reads it again and names every problem.
    book = session.read(hashes=True)
    issues = book.issues.select(list(ISSUE_SCHEMA)).sort(
        "severity", "table", "row", "column", descending=[True, False, False, False]
    )
    # The sums below are read off the collected issues: a second lazy consumer of
    # ``book.issues`` would check the whole book again (collect_all shares no plan between
    # frames here), which doubled validate's time and memory.

    def finish(got: Collected) -> Shown:
        found = got.main if got.main is not None else pl.DataFrame(schema=ISSUE_SCHEMA)
        warned = found.filter(pl.col("severity") == "warning").group_by("table").len()
        copies = found.filter(pl.col("rule") == "duplicate_row").select(
            pl.len().alias("rows"), pl.col("row").min().alias("row"), pl.col("value").sort_by("row").first().alias("of")
        )
        overlapping = found.filter(pl.col("rule") == "overlapping_lines").select(pl.len().alias("rows"))
        held = pl.DataFrame()
        if overlapping.item():
            # Only a book with overlapping lines reads its lines again, for the day's picture.
            day = book_as_of(book.line_items, session.settings.as_of).collect(engine="streaming")
            held = held_at(book.line_items, day.item() if day.height else None).collect(engine="streaming")
        warnings = dict(warned.iter_rows())
        # Every table's full account: the one-line account on stderr is short (it must fit a
        # terminal), so the details are here, on stderr too when the output carries no notes.
        accounts = tuple(
            f"{table_account(row, warnings=warnings.get(row['table'], 0))} — {shown_path(book.sources[table].path)}"
            for row in got.counts.iter_rows(named=True)
            for table in (row["table"],)
        )
        notes: list[str] = []
        if book.profile:
            notes.append(f"profile: {book.profile}")
        for source in book.sources.values():
            mapped = ", ".join(f"{m.canonical} ← '{m.header}' ({m.how})" for m in source.mapping)
            notes.append(f"{source.table} columns: {mapped}")
            if source.ignored_headers:
                notes.append(f"{source.table} ignored: {', '.join(source.ignored_headers)}")
        announce = (*accounts, *unread_column_warnings(book), *repeats(copies, overlapping, held))
        return Shown(tuple(notes), code=int(ExitCode.DATA) if got.rejected else 0, announce=announce)

    # The file repeats a long path on every row, and the notes name each file: it goes last.
    view = ("table", "row", "column", "value", "rule", "message", "severity", "header", "file")
    return Answer(
        "Rejected rows and warnings",
        Plan(main=issues, book=book),
        finish,
        table_columns=view,
        streamable=False,
        see_validate=False,
    )


def _n(value: int) -> str:
    return f"{value:,}"  # as the row account and the tables write counts


def repeats(copies: pl.DataFrame, overlapping: pl.DataFrame, held: pl.DataFrame) -> tuple[str, ...]:
    """The book-level lines of the duplicate_row and overlapping_lines warnings: what a person
    reads first, with the counts, an example and what the rows do to the numbers."""
    lines: list[str] = []
    copy = copies.row(0, named=True)
    if copy["rows"]:
        lines.append(
            f"warning: exact duplicate rows: {_n(copy['rows'])} used line_items rows repeat an earlier row cell "
            f"for cell (e.g. row {copy['row']} = row {copy['of']}); they are used as they are, so each copy "
            "counts again — remove the copies from the export if they are not separate purchases "
            "(rule duplicate_row lists them)"
        )
    rows = int(overlapping["rows"].item()) if overlapping.height else 0
    if rows:
        text = (
            f"warning: overlapping subscriptions: {_n(rows)} won lines start while another line of the same "
            "product is active for the account (rule overlapping_lines lists them)"
        )
        if held.height and held["overlapping"].item():
            text += f"; {held_at_t(held.row(0, named=True))}"
        lines.append(f"{text}. {OVERLAP_EFFECT}")
    return tuple(lines)


# What lines held at once do to the numbers (validate's warning, the report's note).
OVERLAP_EFFECT = (
    "ARR, expansion and retention add them up: right for added seats, inflated when a new "
    "subscription replaces an old one that the export never ends"
)


def held_at_t(at: Mapping[str, Any]) -> str:
    """The pairs holding 2+ won lines at T, from a row of ``held_at``: 'on 2025-12-31, 733 of the
    11,409 account × product pairs with an active line hold 2 or more at once (up to 3: …)'."""
    return (
        f"on {at['as_of']:%Y-%m-%d}, {_n(at['overlapping'])} of the {_n(at['pairs'])} account × product "
        f"pairs with an active line hold 2 or more at once (up to {at['most']}: account {at['account_id']}, "
        f"product {at['product_id']})"
    )
