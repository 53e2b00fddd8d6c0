"""Warnings about rows that are used but look wrong, and the per-table summary.

Rejected rows come from loading (``load.py``); warnings are relationship and range
rules over the loaded book: orphans (anti-joins), negative amounts, end before start,
discount outside 0–1. Both are rows of one frame with the load report's columns.
"""

from __future__ import annotations

import polars as pl

from .load import ISSUE_SCHEMA, Book, LoadReport, empty_issues, with_messages
from .read import ROW

_WARNINGS: dict[str, str] = {
    "orphan_account": "account '{v}' is not in the accounts table; it is used without name or segment",
    "orphan_product": "product '{v}' is not in the products table; it is its own family with no list price",
    "negative_amount": "amount {v} is negative (a credit or refund?); it is counted as is",
    "end_before_start": "end_date {v} is before start_date; the line is never active",
    "discount_out_of_range": "discount {v} is outside 0–1 after reading percentages; check the column",
    "duplicate_account": "account '{v}' appears again; the first row is used",
    "duplicate_product": "product '{v}' appears again; the first row is used",
}


def warnings(book: Book, report: LoadReport) -> pl.DataFrame:
    """Rows that are used but deserve a look, one row per (table, row, rule)."""
    lines = book.line_items.lazy()
    path = str(report.tables["line_items"].path)
    parts: list[pl.LazyFrame] = []

    def rule(
        frame: pl.LazyFrame,
        name: str,
        column: str,
        value: pl.Expr,
        table: str = "line_items",
        file: str = path,
    ) -> None:
        parts.append(
            frame.select(
                pl.lit(table).alias("table"),
                pl.lit(file).alias("file"),
                pl.col(ROW).cast(pl.Int64).alias("row"),
                pl.lit(column).alias("column"),
                pl.lit(None, dtype=pl.String).alias("header"),
                value.cast(pl.String).alias("value"),
                pl.lit(name).alias("rule"),
                pl.lit("warning").alias("severity"),
                pl.lit(None, dtype=pl.String).alias("message"),
            )
        )

    if "accounts" in book.given:
        orphans = lines.join(book.accounts.lazy().select("account_id"), on="account_id", how="anti")
        rule(
            orphans.filter(pl.col("account_id").is_not_null()),
            "orphan_account",
            "account_id",
            pl.col("account_id"),
        )
    if "products" in book.given:
        orphans = lines.join(book.products.lazy().select("product_id"), on="product_id", how="anti")
        rule(
            orphans.filter(pl.col("product_id").is_not_null()),
            "orphan_product",
            "product_id",
            pl.col("product_id"),
        )
    rule(lines.filter(pl.col("amount") < 0), "negative_amount", "amount", pl.col("amount"))
    rule(
        lines.filter(pl.col("end_date") < pl.col("start_date")),
        "end_before_start",
        "end_date",
        pl.col("end_date"),
    )
    rule(
        lines.filter((pl.col("discount") < 0) | (pl.col("discount") > 1)),
        "discount_out_of_range",
        "discount",
        pl.col("discount"),
    )
    found = pl.concat(pl.collect_all(parts), how="vertical") if parts else empty_issues()
    found = pl.concat([found, report.warnings], how="vertical")
    if found.is_empty():
        return found
    message = pl.lit(None, dtype=pl.String)
    for name, template in _WARNINGS.items():
        before, _, after = template.partition("{v}")
        message = (
            pl.when(pl.col("rule") == name)
            .then(pl.concat_str([pl.lit(before), pl.col("value").fill_null(""), pl.lit(after)]))
            .otherwise(message)
        )
    return found.with_columns(pl.coalesce(pl.col("message"), message).alias("message"))


def all_issues(book: Book, report: LoadReport) -> pl.DataFrame:
    issues = pl.concat([with_messages(report.rejects), warnings(book, report)], how="vertical")
    return issues.select(list(ISSUE_SCHEMA)).sort(
        "severity", "table", "row", "column", descending=[True, False, False, False]
    )


def table_summary(report: LoadReport, issues: pl.DataFrame) -> pl.DataFrame:
    """One row per table: file, rows, used, rejected, dropped lines, warnings."""
    warned = issues.filter(pl.col("severity") == "warning").group_by("table").len()  # excluded rows are not warnings
    counts = dict(warned.iter_rows()) if not warned.is_empty() else {}
    rows = [
        {
            "table": t.table,
            "file": str(t.path),
            "rows": t.rows,
            "used": t.used,
            "rejected": t.rejected,
            "excluded": t.excluded,
            "blank_lines": t.blank_lines,
            "footer_lines": t.footer_lines,
            "header_lines": t.header_lines,
            "warnings": int(counts.get(t.table, 0)),
        }
        for t in report.tables.values()
    ]
    return pl.DataFrame(rows)


def summary_lines(summary: pl.DataFrame, report: LoadReport) -> list[str]:
    """Human lines for the table view: per-table counts and how each column was mapped."""
    out = []
    for row in summary.iter_rows(named=True):
        out.append(
            f"{row['table']}: {row['file']} — {row['rows']:,} rows, {row['used']:,} used, "
            f"{row['rejected']:,} rejected, {row['warnings']:,} warnings"
            + (f", {row['excluded']:,} excluded by the config" if row["excluded"] else "")
            + (f", {row['blank_lines']} blank lines dropped" if row["blank_lines"] else "")
            + (f", {row['footer_lines']} report-footer lines dropped" if row["footer_lines"] else "")
            + (f", {row['header_lines']} report-title lines dropped" if row["header_lines"] else "")
        )
    if report.profile:
        out.append(f"profile: {report.profile}")
    for load in report.tables.values():
        mapped = ", ".join(f"{m.canonical} ← '{m.header}' ({m.how})" for m in load.mapping)
        out.append(f"{load.table} columns: {mapped}")
        if load.ignored_headers:
            out.append(f"{load.table} ignored: {', '.join(load.ignored_headers)}")
    return out


__all__ = ["ISSUE_SCHEMA", "all_issues", "summary_lines", "table_summary", "warnings"]
