"""xsell validate: every rejected row and every warning, with the reason and the fix."""

from __future__ import annotations

import polars as pl

from ..errors import ExitCode
from ..ingest import ISSUE_SCHEMA
from .answer import Answer, Shown
from .session import Collected, Plan, Session, table_account


def validate(session: Session) -> Answer:
    book = session.book
    issues = book.issues.select(list(ISSUE_SCHEMA)).sort(
        "severity", "table", "row", "column", descending=[True, False, False, False]
    )
    warned = book.issues.filter(pl.col("severity") == "warning").group_by("table").len()

    def finish(got: Collected) -> Shown:
        warnings = dict(got["warned"].iter_rows())
        # Every table's full account: the one-line account on stderr is short (it must fit a
        # terminal), so the details are here, on stderr too when the output carries no notes.
        accounts = tuple(
            f"{table_account(row, warnings=warnings.get(row['table'], 0))} — {book.sources[row['table']].path}"
            for row in got.counts.iter_rows(named=True)
        )
        notes: list[str] = []
        if book.profile:
            notes.append(f"profile: {book.profile}")
        for source in book.sources.values():
            mapped = ", ".join(f"{m.canonical} ← '{m.header}' ({m.how})" for m in source.mapping)
            notes.append(f"{source.table} columns: {mapped}")
            if source.ignored_headers:
                notes.append(f"{source.table} ignored: {', '.join(source.ignored_headers)}")
        return Shown(tuple(notes), code=int(ExitCode.DATA) if got.rejected else 0, announce=accounts)

    # The file repeats a long path on every row, and the notes name each file: it goes last.
    view = ("table", "row", "column", "value", "rule", "message", "severity", "header", "file")
    return Answer(
        "Rejected rows and warnings",
        Plan(main=issues, sides={"warned": warned}),
        finish,
        table_columns=view,
        see_validate=False,
    )
