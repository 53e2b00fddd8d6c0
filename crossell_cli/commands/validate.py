"""xsell validate: every rejected row and every warning, with the reason and the fix."""

from __future__ import annotations

import polars as pl

from ..errors import ExitCode
from ..ingest import ISSUE_SCHEMA
from .answer import Answer, Shown
from .session import Collected, Plan, Session


def validate(session: Session) -> Answer:
    book = session.book
    issues = book.issues.select(list(ISSUE_SCHEMA)).sort(
        "severity", "table", "row", "column", descending=[True, False, False, False]
    )
    warned = book.issues.filter(pl.col("severity") == "warning").group_by("table").len()

    def finish(got: Collected) -> Shown:
        warnings = dict(got["warned"].iter_rows())
        notes: list[str] = []
        for row in got.counts.iter_rows(named=True):
            source = book.sources[row["table"]]
            notes.append(
                f"{row['table']}: {source.path} — {row['rows']:,} rows, {row['used']:,} used, "
                f"{row['rejected']:,} rejected, {warnings.get(row['table'], 0):,} warnings"
                + (f", {row['excluded']:,} excluded by the config" if row["excluded"] else "")
                + (f", {row['blank_lines']} blank lines dropped" if row["blank_lines"] else "")
                + (f", {row['footer_lines']} report-footer lines dropped" if row["footer_lines"] else "")
                + (f", {row['header_lines']} report-title lines dropped" if row["header_lines"] else "")
            )
        if book.profile:
            notes.append(f"profile: {book.profile}")
        for source in book.sources.values():
            mapped = ", ".join(f"{m.canonical} ← '{m.header}' ({m.how})" for m in source.mapping)
            notes.append(f"{source.table} columns: {mapped}")
            if source.ignored_headers:
                notes.append(f"{source.table} ignored: {', '.join(source.ignored_headers)}")
        return Shown(tuple(notes), code=int(ExitCode.DATA) if got.rejected else 0)

    # The file repeats a long path on every row, and the notes name each file: it goes last.
    view = ("table", "row", "column", "value", "rule", "message", "severity", "header", "file")
    return Answer("Rejected rows and warnings", Plan(main=issues, sides={"warned": warned}), finish, table_columns=view)
